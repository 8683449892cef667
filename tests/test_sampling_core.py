"""Diffusion Inversion stage 2 and the VAE round trip on a tiny random generator (CPU)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch

from repro.errors import ReproError
from repro.generators.tiny import tiny_generator
from repro.inversion import EmbeddingTable
from repro.sampling import (
    Sampler,
    SamplingConfig,
    SyntheticDataset,
    guided_prediction,
    make_plan,
    perturbed_condition,
    sample_dataset,
    vae_roundtrip,
)

LABELS = np.array([0, 1, 0, 1, 1, 2])  # class 2 has a single member


@pytest.fixture(scope="module")
def bundle():
    return tiny_generator(resolution=16)


def table(step: int, tokens=8, width=32, resolution=16, n=None, seed=0) -> EmbeddingTable:
    n = len(LABELS) if n is None else n
    g = torch.Generator().manual_seed(seed + step)
    return EmbeddingTable(
        embeddings=torch.randn(n, tokens, width, generator=g),
        labels=torch.as_tensor(LABELS[:n]),
        index=torch.arange(100, 100 + n),  # dataset positions, not rows
        ids=[f"src{i}" for i in range(n)],
        meta={
            "step": step,
            "config_hash": "abc",
            "resolution": resolution,
            "source_resolution": 8,
            "classes": ["cat", "dog", "owl"],
            "generator": "tiny",
            "dataset": "toy",
            "split": "target",
            "shard": [0, 1],
        },
    )


@pytest.fixture(scope="module")
def tables():
    return {1: table(1), 2: table(2)}


FAST = dict(steps=3, batch=4, shard_size=5)


def test_guidance_matches_the_paper_formula():
    cond, uncond = torch.randn(3, 4, 2, 2), torch.randn(3, 4, 2, 2)
    w = torch.tensor([0.0, 2.0, 4.0])
    out = guided_prediction(cond, uncond, w)
    for i, wi in enumerate([0.0, 2.0, 4.0]):
        torch.testing.assert_close(out[i], (1 + wi) * cond[i] - wi * uncond[i])


def test_perturbation_and_interpolation_match_the_paper_formulas():
    source, partner, noise = torch.randn(2, 8, 32), torch.randn(2, 8, 32), torch.randn(2, 8, 32)
    out = perturbed_condition(source, partner, torch.tensor([0.1, 0.0]), torch.tensor([0.0, 0.3]), noise)
    torch.testing.assert_close(out[0], 0.1 * partner[0] + 0.9 * source[0])
    torch.testing.assert_close(out[1], source[1] + 0.3 * noise[1])


def test_sampler_conditions_match_hand_computed_tensors(bundle, tables):
    config = SamplingConfig(per_image=2, noise=(0.5,), interpolate=(0.3,), checkpoints=(1, 2), **FAST)
    sampler = Sampler(bundle, tables, config)
    plan = make_plan(LABELS, tables[1].index.numpy(), (1, 2), config)
    rows = np.arange(len(plan))
    cond, uncond_rows, _ = sampler.conditions(plan, rows)
    uncond = sampler.uncond[uncond_rows]
    for r in rows:
        emb = tables[int(plan.checkpoint[r])].embeddings
        eps = torch.randn(8, 32, generator=torch.Generator().manual_seed(int(plan.seed[r])))
        partner = plan.partner[r]
        torch.testing.assert_close(cond[r], 0.3 * emb[partner] + 0.7 * emb[plan.source[r]] + 0.5 * eps)
        torch.testing.assert_close(uncond[r], emb.mean(dim=0))
    assert set(plan.checkpoint.tolist()) == {1, 2}


def test_empty_prompt_unconditional_is_the_text_encoding(bundle, tables):
    sampler = Sampler(bundle, {1: tables[1]}, SamplingConfig(uncond="empty", **FAST))
    with torch.no_grad():
        expected = bundle.encode_text([""])[0]
    torch.testing.assert_close(sampler.uncond[0], expected)


def test_plan_partners_share_the_class_and_samples_do_not_depend_on_each_other():
    config = SamplingConfig(per_image=20, guidance=(1.0, 2.0, 3.0), interpolate=(0.1,), checkpoints=(1, 2))
    index = np.arange(100, 106)
    plan = make_plan(LABELS, index, (1, 2), config)
    src, partner = plan.source, plan.partner
    single = LABELS[src] == 2
    assert np.all(LABELS[partner] == LABELS[src])
    assert np.all(partner[~single] != src[~single]) and np.all(partner[single] == src[single])
    assert set(plan.w.tolist()) == {1.0, 2.0, 3.0} and set(plan.checkpoint.tolist()) == {1, 2}
    assert len(set(plan.seed.tolist())) == len(plan)
    head = make_plan(LABELS[:4], index[:4], (1, 2), config)  # fewer images: the same first samples
    assert np.array_equal(head.seed, plan.seed[:80]) and np.array_equal(head.w, plan.w[:80])
    no_interp = make_plan(LABELS, index, (1, 2), dataclasses.replace(config, interpolate=(0.0,)))
    assert np.all(no_interp.partner == -1)


def test_sampling_is_deterministic_per_seed_whatever_the_batching(bundle, tables, tmp_path):
    config = SamplingConfig(per_image=2, guidance=(1.0, 3.0), checkpoints=(1, 2), **FAST)
    a = sample_dataset(bundle, tables, tmp_path / "a", config, progress=False).load()
    b = sample_dataset(bundle, tables, tmp_path / "b", dataclasses.replace(config, batch=3), progress=False).load()
    c = sample_dataset(bundle, tables, tmp_path / "c", dataclasses.replace(config, seed=1), progress=False).load()
    assert a.images.shape == (12, 8, 8, 3) and a.images.dtype == np.uint8
    assert np.abs(a.images.astype(int) - b.images.astype(int)).max() <= 1
    assert not np.array_equal(a.images, c.images)
    assert np.array_equal(a.provenance["seed"], b.provenance["seed"])


def test_ddim_with_eta_is_deterministic_and_stochastic_across_seeds(bundle, tables):
    config = SamplingConfig(eta=1.0, **FAST)
    sampler = Sampler(bundle, {2: tables[2]}, config)
    plan = make_plan(LABELS, tables[2].index.numpy(), (2,), config)
    rows = np.arange(3)
    first, second = sampler.generate(plan, rows), sampler.generate(plan, rows)
    assert np.array_equal(first, second)
    deterministic = Sampler(bundle, {2: tables[2]}, dataclasses.replace(config, eta=0.0)).generate(plan, rows)
    assert not np.array_equal(first, deterministic)


@pytest.mark.parametrize("scheduler", ["pndm", "dpm++", "unipc"])
def test_every_scheduler_samples(bundle, tables, scheduler):
    config = SamplingConfig(scheduler=scheduler, save_resolution=16, **FAST)
    sampler = Sampler(bundle, {2: tables[2]}, config)
    images = sampler.generate(make_plan(LABELS, tables[2].index.numpy(), (2,), config), np.arange(2))
    assert images.shape == (2, 16, 16, 3) and images.dtype == np.uint8 and images.std() > 0


def test_dataset_carries_labels_and_provenance(bundle, tables, tmp_path):
    config = SamplingConfig(per_image=2, interpolate=(0.2,), noise=(0.1,), **FAST)
    data = sample_dataset(bundle, tables, tmp_path / "syn", config, progress=False)
    assert data.classes == ["cat", "dog", "owl"] and data.resolution == 8 and len(data) == 12
    assert len(list(data)) == 3  # shards of 5, 5, 2 stream one by one
    arrays = data.load()
    prov = arrays.provenance
    assert np.array_equal(arrays.labels, LABELS[prov["source_index"] - 100])
    assert np.array_equal(prov["source_id"], np.array([f"src{i - 100}" for i in prov["source_index"]]))
    assert np.all(LABELS[prov["partner_index"] - 100] == arrays.labels)
    assert np.all(prov["checkpoint"] == 2) and np.allclose(prov["alpha"], 0.2) and np.allclose(prov["lam"], 0.1)
    assert np.array_equal(prov["variant"], np.tile([0, 1], 6))


def test_rerun_skips_complete_shards_and_refills_missing_ones(bundle, tables, tmp_path):
    config = SamplingConfig(per_image=2, **FAST)
    out = tmp_path / "syn"
    first = sample_dataset(bundle, tables, out, config, progress=False).load()
    os.utime(out / "shard00000.npz", (1, 1))
    (out / "shard00001.npz").unlink()
    with pytest.raises(ReproError, match="incomplete"):
        SyntheticDataset(out).load()
    again = sample_dataset(bundle, tables, out, config, progress=False).load()
    assert (out / "shard00000.npz").stat().st_mtime == 1  # untouched
    assert np.array_equal(first.images, again.images)
    with pytest.raises(ReproError, match=r"other settings \(config.seed: 0 there, 5 now\)"):
        sample_dataset(bundle, tables, out, dataclasses.replace(config, seed=5), progress=False)


def test_output_shards_split_over_processes_equal_one_process(bundle, tables, tmp_path):
    config = SamplingConfig(per_image=2, **FAST)
    one = sample_dataset(bundle, tables, tmp_path / "one", config, progress=False).load()
    assert sample_dataset(bundle, tables, tmp_path / "two", config, shard=(0, 2), progress=False) is None
    two = sample_dataset(bundle, tables, tmp_path / "two", config, shard=(1, 2), progress=False).load()
    assert np.array_equal(one.images, two.images)


def test_embeddings_of_the_wrong_width_are_refused(bundle):
    with pytest.raises(ReproError, match="16 wide.*32-wide"):
        Sampler(bundle, {1: table(1, width=16)}, SamplingConfig(**FAST))


def test_embeddings_with_too_many_tokens_are_refused(bundle):
    with pytest.raises(ReproError, match="10 tokens.*8-token"):
        Sampler(bundle, {1: table(1, tokens=10)}, SamplingConfig(**FAST))


def test_embeddings_at_another_resolution_are_refused(bundle, tables):
    with pytest.raises(ReproError, match="learned at 16 px.*not at 32 px"):
        Sampler(bundle, tables, SamplingConfig(resolution=32, **FAST))
    with pytest.raises(ReproError, match="18 px"):
        Sampler(bundle, {1: table(1, resolution=18)}, SamplingConfig(**FAST))


def test_unknown_scheduler_and_missing_checkpoint_are_refused(bundle, tables, tmp_path):
    with pytest.raises(ReproError, match="unknown scheduler"):
        Sampler(bundle, tables, SamplingConfig(scheduler="euler", **FAST))
    with pytest.raises(ReproError, match=r"checkpoints \[3\]"):
        sample_dataset(bundle, tables, tmp_path / "x", SamplingConfig(checkpoints=(3,), **FAST))


def test_vae_roundtrip_keeps_shape_and_is_deterministic(bundle):
    from repro.provenance import phase_seconds

    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    before = phase_seconds().get("vae", 0.0)
    out = vae_roundtrip(bundle, images, resolution=16, batch=2)
    assert phase_seconds()["vae"] > before  # a workflow job's phases count its round trips
    assert out.shape == images.shape and out.dtype == np.uint8
    assert np.array_equal(out, vae_roundtrip(bundle, images, resolution=16, batch=5))
    assert not np.array_equal(out, images)
    with pytest.raises(ReproError, match="18 px"):
        vae_roundtrip(bundle, images, resolution=18)


def test_vae_roundtrip_runs_in_the_precision_the_generator_is_loaded_in():
    images = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    half = tiny_generator(resolution=16).to(dtype=torch.bfloat16)  # bf16 weights need bf16 autocast
    out = vae_roundtrip(half, images)
    assert out.shape == images.shape and out.dtype == np.uint8
    with pytest.raises(ReproError, match="bfloat16 but precision is 'fp32'"):
        vae_roundtrip(half, images, precision="fp32")
