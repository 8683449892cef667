"""Diffusion Inversion stage 1 on a tiny random generator (CPU)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch._dynamo.testing import CompileCounter

from repro.errors import ReproError
from repro.generators.pixels import to_model_pixels
from repro.generators.tiny import tiny_generator
from repro.inversion import FastPath, GroupTrainer, InversionConfig, invert, load_checkpoints
from repro.inversion.fastpath import MIN_COMPILED_BATCH, compiled_batch
from repro.inversion.trainer import group_generator

CLASSES = ["cat", "dog"]


@pytest.fixture(scope="module")
def bundle():
    return tiny_generator(resolution=16)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    return images, np.array([0, 1, 0, 1, 1]), [f"img{i}" for i in range(5)]


def make_trainer(bundle, images, config=None, prompts=None, fast=None):
    fast = fast or FastPath()
    config = (config or InversionConfig(steps=10)).resolved(bundle)
    pixels = to_model_pixels(images, config.resolution, bundle.device)
    return GroupTrainer(
        bundle,
        config,
        pixels,
        prompts or [""] * len(images),
        group_generator(config.seed, 0, bundle.device),
        fast,
        fast.unet_fn(bundle.unet),
    )


def run(bundle, data, out, **kw):
    images, labels, ids = data
    options = dict(steps=6, checkpoints=(2, 4), batch=2)
    options.update(kw.pop("config", {}))
    return invert(bundle, images, labels, ids, CLASSES, out, InversionConfig(**options), progress=False, **kw)


def tensors(out):
    return {step: t.embeddings for step, t in load_checkpoints([out]).items()}


def test_gradients_reach_only_the_embeddings_and_weights_stay_bit_identical(bundle, data, tmp_path):
    models = {"unet": bundle.unet, "vae": bundle.vae, "text_encoder": bundle.text_encoder}
    before = {name: {k: v.clone() for k, v in m.state_dict().items()} for name, m in models.items()}
    trainer = make_trainer(bundle, data[0][:3])
    start = trainer.embeddings.detach().clone()
    trainer.per_image_loss(
        trainer.clean_latents(), torch.randn(3, 4, 4, 4), torch.tensor([10, 500, 990])
    ).sum().backward()
    assert trainer.embeddings.grad is not None and trainer.embeddings.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for m in models.values() for p in m.parameters())
    trainer.optimizer.zero_grad()
    for _ in range(3):
        trainer.step()
    assert not torch.equal(trainer.embeddings.detach(), start)
    run(bundle, data, tmp_path / "emb")
    for name, m in models.items():
        after = m.state_dict()
        assert all(torch.equal(before[name][k], after[k]) for k in after), name


def test_each_embedding_gets_the_gradient_it_would_get_alone(bundle, data):
    trainer = make_trainer(bundle, data[0][:3])
    latents = trainer.clean_latents()
    noise, timesteps = torch.randn(latents.shape), torch.tensor([3, 400, 800])
    trainer.per_image_loss(latents, noise, timesteps).sum().backward()
    together = trainer.embeddings.grad[1].clone()
    alone = trainer.embeddings.detach()[1:2].clone().requires_grad_(True)
    trainer.per_image_loss(latents[1:2], noise[1:2], timesteps[1:2], alone).sum().backward()
    torch.testing.assert_close(together, alone.grad[0], rtol=1e-4, atol=1e-7)


def test_compiled_unet_sees_padded_batches_and_real_rows_keep_outputs_and_gradients(bundle, data, monkeypatch):
    seen = []

    class Recorder(torch.nn.Module):
        """What torch.compile would run, recording the batch sizes it is called with."""

        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def forward(self, latents, *args, **kwargs):
            seen.append(latents.shape[0])
            return self.unet(latents, *args, **kwargs)

    monkeypatch.setattr(torch, "compile", lambda module, **kw: Recorder(module))
    eager = make_trainer(bundle, data[0][:3])
    compiled = make_trainer(bundle, data[0][:3], fast=FastPath(compile=True))
    latents = eager.clean_latents()
    noise, timesteps = torch.randn(latents.shape), torch.tensor([3, 400, 800])
    losses = []
    for trainer in (eager, compiled):
        loss = trainer.per_image_loss(latents, noise, timesteps)
        loss.sum().backward()
        losses.append(loss.detach())
    assert seen == [MIN_COMPILED_BATCH]
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(compiled.embeddings.grad, eager.embeddings.grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_a_full_group_and_a_padded_one_share_one_compiled_graph(bundle, device, monkeypatch):
    """A run's last group is padded, the others are not: the compiled graph must not be built again for it.
    Dynamo guards on each input's type and strides, so the trainer's embedding Parameter, passed as it is, or
    latents in the VAE's layout, passed as they are, each compiled the whole UNet a second time in every job whose
    last group is padded."""
    counter = CompileCounter()
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module, **kw: compile_(module, backend=counter, **kw))
    torch._dynamo.reset()
    images = np.random.default_rng(1).integers(0, 256, (MIN_COMPILED_BATCH, 16, 16, 3), dtype=np.uint8)
    on_device = bundle if device == "cpu" else tiny_generator(resolution=16).to(device=device)
    frames = []
    for group in (images, images[:3]):  # a full compiled batch, then one padded up to it
        make_trainer(on_device, group, fast=FastPath(compile=True)).step()
        frames.append(counter.frame_count)
    torch._dynamo.reset()
    assert frames[0] > 0 and frames[1] == frames[0]


@pytest.mark.parametrize(("rows", "batch"), [(1, 64), (64, 64), (65, 128), (904, 1024), (1024, 1024), (2048, 2048)])
def test_compiled_batches_are_powers_of_two(rows, batch):
    assert compiled_batch(rows) == batch


def test_loss_falls_on_a_fixed_image(bundle, data):
    trainer = make_trainer(bundle, data[0][:1], InversionConfig(steps=40, batch=1, latents="mean"))
    k = 32  # a fixed evaluation set of timesteps and noises
    latents = trainer.clean_latents().expand(k, -1, -1, -1)
    noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(1))
    timesteps = torch.linspace(0, 999, k).long()

    def loss():
        with torch.no_grad():
            return trainer.per_image_loss(latents, noise, timesteps, trainer.embeddings.expand(k, -1, -1)).mean()

    start = loss()
    for _ in range(40):
        trainer.step()
    assert loss() < 0.99 * start


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_loss_targets_match_the_ldm_objective(prediction_type, data):
    bundle = tiny_generator(resolution=16, prediction_type=prediction_type)
    trainer = make_trainer(bundle, data[0][:2])
    trainer.unet_fn = lambda x, t, c: torch.zeros_like(x)  # loss = mean squared target
    latents, noise, t = torch.randn(2, 4, 4, 4), torch.randn(2, 4, 4, 4), torch.tensor([0, 700])
    ac = bundle.scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    target = noise if prediction_type == "epsilon" else ac.sqrt() * noise - (1 - ac).sqrt() * latents
    torch.testing.assert_close(trainer.per_image_loss(latents, noise, t), target.pow(2).mean(dim=(1, 2, 3)))


def test_cached_posterior_equals_reencoding_every_step(bundle, data):
    cached = make_trainer(bundle, data[0][:2], InversionConfig(steps=3, latents="mean"))
    reencoded = make_trainer(bundle, data[0][:2], InversionConfig(steps=3, latents="mean", reencode_every_step=True))
    for _ in range(3):
        cached.step(), reencoded.step()
    assert torch.equal(cached.embeddings, reencoded.embeddings)


def test_text_init_starts_from_the_prompt_encoding(bundle, data):
    trainer = make_trainer(
        bundle,
        data[0][:2],
        InversionConfig(steps=2, init="text", tokens=5),
        prompts=["a photo of a cat", "a photo of a dog"],
    )
    with torch.no_grad():
        expected = bundle.encode_text(["a photo of a cat", "a photo of a dog"])[:, :5]
    assert torch.equal(trainer.embeddings.detach(), expected)


def test_bf16_fast_path_agrees_with_fp32(bundle, data):
    fp32 = make_trainer(bundle, data[0][:2])
    bf16 = make_trainer(bundle, data[0][:2], InversionConfig(steps=10, precision="bf16"), fast=FastPath("bf16"))
    latents, noise, t = fp32.clean_latents(), torch.randn(2, 4, 4, 4), torch.tensor([100, 600])
    losses = []
    for trainer in (fp32, bf16):
        loss = trainer.per_image_loss(latents, noise, t)
        loss.sum().backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[1], losses[0], rtol=2e-2, atol=1e-3)
    g32, g16 = fp32.embeddings.grad, bf16.embeddings.grad
    assert bf16.embeddings.dtype == torch.float32 and g16.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(g32.flatten(), g16.flatten(), dim=0) > 0.98
    assert (g16 - g32).norm() < 0.1 * g32.norm()


def test_outputs_hold_ids_labels_and_metadata(bundle, data, tmp_path):
    files = run(bundle, data, tmp_path / "emb", dataset="toy", split="target")
    assert [f.name for f in files] == ["step00002.safetensors", "step00004.safetensors", "step00006.safetensors"]
    tables = load_checkpoints([tmp_path / "emb"])
    table = tables[6]
    assert table.embeddings.shape == (5, bundle.max_tokens, bundle.text_width)
    assert table.embeddings.dtype == torch.float32
    assert table.ids == data[2] and table.labels.tolist() == data[1].tolist()
    assert table.index.tolist() == list(range(5)) and table.classes == CLASSES
    assert table.meta["generator"] == "tiny" and table.meta["resolution"] == 16
    assert table.meta["source_resolution"] == 16 and table.meta["config"]["tokens"] == bundle.max_tokens
    run_json = json.loads((tmp_path / "emb" / "run.json").read_text())
    assert run_json["config_hash"] == table.meta["config_hash"]
    assert not list((tmp_path / "emb" / ".work").iterdir())


def test_resumed_run_equals_uninterrupted_bit_for_bit(bundle, data, tmp_path, monkeypatch):
    run(bundle, data, tmp_path / "whole")
    # a time-sliced job: stop mid-group twice, then finish
    assert run(bundle, data, tmp_path / "sliced", stop_after_steps=3) is None
    assert run(bundle, data, tmp_path / "sliced", stop_after_steps=5) is None
    run(bundle, data, tmp_path / "sliced")
    # a killed job: dies at step 3 of the second group, resumes from that group's step-2 checkpoint
    calls = {"n": 0}
    original = GroupTrainer.step

    def dying_step(self):
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(GroupTrainer, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        run(bundle, data, tmp_path / "killed")
    monkeypatch.setattr(GroupTrainer, "step", original)
    assert (tmp_path / "killed" / ".work" / "group00001.state.pt").exists()
    run(bundle, data, tmp_path / "killed")
    whole = tensors(tmp_path / "whole")
    for other in ("sliced", "killed"):
        resumed = tensors(tmp_path / other)
        assert whole.keys() == resumed.keys()
        assert all(torch.equal(whole[s], resumed[s]) for s in whole), other


def test_shards_together_equal_one_job(bundle, data, tmp_path):
    run(bundle, data, tmp_path / "one")
    for i in range(2):
        files = run(bundle, data, tmp_path / "two", shard=(i, 2))
        assert all(f".shard{i:03d}of002." in f.name for f in files)
    one, two = load_checkpoints([tmp_path / "one"]), load_checkpoints([tmp_path / "two"])
    for step in one:
        assert torch.equal(one[step].embeddings, two[step].embeddings)
        assert one[step].ids == two[step].ids and torch.equal(one[step].index, two[step].index)


def test_missing_shard_is_an_error(bundle, data, tmp_path):
    run(bundle, data, tmp_path / "half", shard=(0, 2))
    with pytest.raises(ReproError, match="shards"):
        load_checkpoints([tmp_path / "half"])


def test_resume_with_another_configuration_is_refused(bundle, data, tmp_path):
    run(bundle, data, tmp_path / "emb", stop_after_steps=3)
    with pytest.raises(ReproError, match=r"other settings \(config.lr: 0.03 there, 0.01 now\)"):
        run(bundle, data, tmp_path / "emb", config={"lr": 0.01})
    # speed-only settings may change on resume
    run(bundle, data, tmp_path / "emb", config={"state_every": 1})


def test_too_many_tokens_is_refused(bundle, data, tmp_path):
    with pytest.raises(ReproError, match="tokens=9.*8 tokens"):
        run(bundle, data, tmp_path / "emb", config={"tokens": 9})


def test_resolution_that_does_not_fit_the_vae_is_refused(bundle, data, tmp_path):
    with pytest.raises(ReproError, match="18 px"):
        run(bundle, data, tmp_path / "emb", config={"resolution": 18})


def test_nan_loss_stops_with_a_clear_error(data, tmp_path):
    broken = tiny_generator(resolution=16)
    with torch.no_grad():
        broken.unet.conv_out.bias.fill_(float("nan"))
    with pytest.raises(ReproError, match="NaN"):
        run(broken, data, tmp_path / "emb")
    assert not list((tmp_path / "emb").glob("step*.safetensors"))


def test_precision_must_match_reduced_precision_weights(data, tmp_path):
    bf16_model = tiny_generator(resolution=16).to(dtype=torch.bfloat16)
    with pytest.raises(ReproError, match="precision"):
        run(bf16_model, data, tmp_path / "emb")
    with pytest.raises(ReproError, match="bf16"):
        InversionConfig(precision="fp16")
