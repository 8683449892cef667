"""No embedding outside a low-data arm's images reaches its Diffusion Inversion variants (Figure 6, Figure 7a):
neither as an interpolation partner nor through the mean unconditional input. Perturbing every embedding outside
the subset leaves the arm's images unchanged on the notebooks' path, and changes them on the old one (the
variants of the whole split, cut to the subset)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from repro.errors import ReproError
from repro.experiments import ExperimentRun
from repro.experiments.generate import sample_set
from repro.experiments.protocol import variants_of
from repro.files import ARGUMENTS_FILE
from repro.generators import save_bundle
from repro.generators.tiny import tiny_generator
from repro.inversion.store import EmbeddingTable, save_table
from repro.sampling import SamplingConfig

LABELS = np.array([0, 1, 0, 1, 0, 1, 0, 1])
SUBSET = ["img0", "img1", "img2", "img3"]  # two images of each class; img4..img7 lie outside
OUTSIDE = [4, 5, 6, 7]


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return save_bundle(tiny_generator(resolution=16), tmp_path_factory.mktemp("gen"))


def make_run(work, generator) -> ExperimentRun:
    params = {
        "generator": str(generator),
        "dtype": "fp32",
        "per_image": 2,
        "guidance": [2],
        "noise": 0.1,
        "interpolation": 0.5,
        "checkpoints": [3],
        "scheduler": "ddim",
        "inference_steps": 2,
        "uncond": "mean",
        "inversion_steps": 3,
        "seeds": [0],
    }
    return ExperimentRun("di_fig6_real_scaling", "smoke", work / "out", params, device="cpu", work_dir=work)


def write_inversion(work, generator, perturb: bool, batch: int | None = None):
    """The shared inversion asset of a toy dataset; ``perturb`` replaces the embeddings outside the subset; ``batch``:
    the inversion's recorded batch (none recorded without it)."""
    embeddings = torch.randn(len(LABELS), 8, 32, generator=torch.Generator().manual_seed(0))
    if perturb:
        embeddings[OUTSIDE] = 5 * torch.randn(len(OUTSIDE), 8, 32, generator=torch.Generator().manual_seed(1))
    folder = work / "assets" / "inversion_toy"
    folder.mkdir(parents=True)
    table = EmbeddingTable(
        embeddings,
        torch.as_tensor(LABELS),
        torch.arange(len(LABELS)),
        [f"img{i}" for i in range(len(LABELS))],
        {
            "step": 3,
            "config_hash": "toy",
            "resolution": 16,
            "source_resolution": 8,
            "classes": ["cat", "dog"],
            "generator": str(generator),
            "dataset": "toy",
            "split": "target",
            "shard": [0, 1],
            **({"config": {"batch": batch}} if batch else {}),
        },
    )
    save_table(table, folder / "step00003.safetensors")
    (folder / ARGUMENTS_FILE).write_text(json.dumps({"generator": str(generator), "inversion_steps": 3}))
    return folder


def di_arm(tmp_path, generator, perturb: bool, old_path: bool) -> np.ndarray:
    work = tmp_path / ("perturbed" if perturb else "clean")
    inversion = write_inversion(work, generator, perturb)
    run = make_run(work, generator)
    if old_path:  # the variants of the whole split, cut to the subset
        synthetic = sample_set(
            run,
            inversion,
            "whole",
            generator_source=str(generator),
            per_image=2,
            guidance=[2],
            noise=0.1,
            interpolation=0.5,
            checkpoints=[3],
            inference_steps=2,
        )
    else:
        synthetic = variants_of(run, "toy", SUBSET, seed=0)
    return synthetic.subset(SUBSET, 2).images


def test_embeddings_outside_the_subset_cannot_reach_the_di_arm(tmp_path, generator):
    clean = di_arm(tmp_path / "new", generator, perturb=False, old_path=False)
    perturbed = di_arm(tmp_path / "new", generator, perturb=True, old_path=False)
    assert clean.shape == (8, 8, 8, 3)
    assert np.array_equal(clean, perturbed)


def test_the_old_path_let_them_in(tmp_path, generator):
    """The perturbation above is strong enough to be seen: through the whole split's partners and mean."""
    clean = di_arm(tmp_path / "old", generator, perturb=False, old_path=True)
    perturbed = di_arm(tmp_path / "old", generator, perturb=True, old_path=True)
    assert not np.array_equal(clean, perturbed)


def test_partners_come_from_the_subset_and_the_seed_resamples(tmp_path, generator):
    work = tmp_path / "plan"
    write_inversion(work, generator, perturb=False)
    synthetic = variants_of(make_run(work, generator), "toy", SUBSET, seed=1)
    partners = synthetic.arrays.provenance["partner_index"]
    assert set(partners.tolist()) <= {0, 1, 2, 3} and len(synthetic) == 8
    assert synthetic.config["seed"] == 1


def test_every_inverted_image_reads_the_seeds_shared_set(tmp_path, generator):
    work = tmp_path / "all"
    inversion = write_inversion(work, generator, perturb=False)
    run = make_run(work, generator)
    made = sample_set(
        run,
        inversion,
        "made",
        generator_source=str(generator),
        per_image=2,
        guidance=[2],
        noise=0.1,
        interpolation=0.5,
        checkpoints=[3],
        inference_steps=2,
        seed=0,
    )
    made.dataset.path.rename(work / "assets" / "synthetic_toy")
    # what `repro sample` records beside a shared set: the options it was sampled with
    sampled = {
        "per_image": 2,
        "guidance": [2],
        "noise": [0.1],
        "interpolation": [0.5],
        "checkpoints": [3],
        "inference_steps": 2,
        "scheduler": "ddim",
        "uncond": "mean",
        "seed": 0,
    }
    (work / "assets" / "synthetic_toy" / ARGUMENTS_FILE).write_text(json.dumps(sampled))
    everything = [f"img{i}" for i in range(len(LABELS))]
    assert variants_of(run, "toy", everything, seed=0).dataset.path == work / "assets" / "synthetic_toy"
    with pytest.raises(ReproError, match="asset 'synthetic_toy_seed1' is not built"):
        variants_of(run, "toy", everything, seed=1)


def test_a_notebook_samples_in_batches_of_its_embeddings_own_inversion(tmp_path, generator):
    """The batch is a speed setting of sampling (every image its own noise): the inversion's batch, which the device
    held in forward and backward passes, instead of the sampler's default; the images do not change."""
    sets = {}
    for batch in (None, 3):
        work = tmp_path / f"batch{batch}"
        inversion = write_inversion(work, generator, perturb=False, batch=batch)
        sets[batch] = sample_set(
            make_run(work, generator),
            inversion,
            "made",
            generator_source=str(generator),
            per_image=2,
            guidance=[2],
            checkpoints=[3],
            inference_steps=2,
        )
    assert sets[None].config["batch"] == SamplingConfig.batch and sets[3].config["batch"] == 3
    assert np.array_equal(sets[None].arrays.images, sets[3].arrays.images)
