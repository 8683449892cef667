"""Export of the mini model: the fp16 diffusers folder loads through the generator loader with SD's shapes
at 64 px (16x16x4 latents, 77-token context), the early checkpoints swap in, the sizes fit the budget, and a
packed work folder resumes on a fresh machine. The whole CLI runs at smoke scale when the data layer exists."""

from __future__ import annotations

import json
import os
import tarfile
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors import safe_open

from repro.cli import main
from repro.fingerprint import folder_fingerprint
from repro.generators import load_generator
from repro.pretrain.autoencoder import train_autoencoder
from repro.pretrain.diffusion import train_diffusion
from repro.pretrain.export import export_mini, pack_work
from repro.pretrain.loop import run_stage
from repro.pretrain.pool import record_split, split_pool
from repro.pretrain.settings import AutoencoderSettings, DiffusionSettings, scale_settings
from tests.test_pretrain_stages import FakeSet, fake_pool, tiny_diffusion_stage

CPU = torch.device("cpu")


def short_scale():
    """The mini architecture, trained for a step or two on a dozen images."""
    return replace(
        scale_settings("smoke"),
        autoencoder=AutoencoderSettings(batch_size=4, warmup_steps=1, steps=1),
        diffusion=DiffusionSettings(batch_size=4, warmup_steps=1, steps=4),
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    train, holdout = split_pool(fake_pool(14), holdout_images=2, seed=0)
    record_split(root / "work", train, holdout)
    scale = short_scale()
    assert train_autoencoder(root / "work", train, scale, CPU) is not None
    assert train_diffusion(root / "work", train, scale, CPU) is not None
    return root, export_mini(root / "work", root / "weights")


def test_export_loads_with_sd_shapes(exported):
    _, folder = exported
    bundle = load_generator(folder)
    assert (bundle.resolution, bundle.latent_size(), bundle.latent_channels) == (64, 16, 4)
    assert (bundle.max_tokens, bundle.text_width, bundle.prediction_type) == (77, 256, "epsilon")
    assert bundle.scheduler.config.beta_schedule == "scaled_linear"
    assert (bundle.scheduler.config.beta_start, bundle.scheduler.config.beta_end) == (0.00085, 0.012)
    assert bundle.scaling_factor != 1.0  # fixed from the pool's latents
    with torch.no_grad():
        latents = bundle.encode_images(torch.rand(2, 3, 64, 64) * 2 - 1)
        assert latents.shape == (2, 4, 16, 16)
        assert bundle.decode_latents(latents).shape == (2, 3, 64, 64)
        context = bundle.encode_text(["a photo of a cat", ""])
        assert context.shape == (2, 77, 256)
        noise_prediction = bundle.unet(latents, torch.tensor([10, 500]), encoder_hidden_states=context).sample
        assert noise_prediction.shape == (2, 4, 16, 16)


def test_export_is_fp16_and_fits_the_budget(exported):
    _, folder = exported
    for part, dtype in (
        ("unet/diffusion_pytorch_model", torch.float16),
        ("vae/diffusion_pytorch_model", torch.float16),
        ("text_encoder/model", torch.float32),
    ):
        with safe_open(str(folder / f"{part}.safetensors"), "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {dtype}, part
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    checkpoints = sorted((folder.parent / "mini_checkpoints").iterdir())
    assert [p.name for p in checkpoints] == ["unet_010.safetensors", "unet_030.safetensors"]
    assert size < 25e6
    assert size + sum(p.stat().st_size for p in checkpoints) < 38e6  # leaves room for the card's images
    records = json.loads((folder / "training" / "diffusion.json").read_text())
    assert records["steps"] == 4 and records["snapshots"]["unet_030.safetensors"] == 1


def test_diffusers_pipeline_loads_and_samples_the_export(exported):
    from diffusers import StableDiffusionPipeline

    _, folder = exported
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None)
    assert pipe.unet.dtype == pipe.text_encoder.dtype == torch.float32
    images = pipe(
        ["a photo of a cat", "a cartoon of a dog"],
        num_inference_steps=3,
        guidance_scale=3.0,
        height=64,
        width=64,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    ).images
    assert images.shape == (2, 64, 64, 3) and np.isfinite(images).all()
    assert not np.allclose(images[0], images[1])  # two prompts, two images


def test_early_checkpoint_swaps_in(exported):
    _, folder = exported
    final = load_generator(folder)
    early = load_generator(folder, unet_weights=folder.parent / "mini_checkpoints" / "unet_010.safetensors")
    a, b = (torch.cat([p.flatten() for p in m.unet.parameters()]) for m in (final, early))
    assert a.shape == b.shape and not torch.equal(a, b)
    assert early.name == f"{final.name}+unet_010"  # provenance tells the two generators apart
    assert torch.equal(
        torch.cat([p.flatten() for p in final.vae.parameters()]),
        torch.cat([p.flatten() for p in early.vae.parameters()]),
    )


def test_cli_export_and_unfinished_work(exported, tmp_path, capsys):
    root, _ = exported
    assert main(["pretrain", "export", "--work", str(root / "work"), "--weights", str(tmp_path / "w")]) == 0
    assert (tmp_path / "w" / "mini" / "unet").is_dir()
    assert main(["pretrain", "export", "--work", str(tmp_path / "empty"), "--weights", str(tmp_path / "w")]) == 2
    assert "has not finished" in capsys.readouterr().err


def test_a_damaged_latent_cache_is_encoded_again(exported, capsys):
    from repro.pretrain.autoencoder import LATENTS_FILE, pool_latents

    root, _ = exported
    work = root / "work"
    train, _ = split_pool(fake_pool(14), holdout_images=2, seed=0)
    good = pool_latents(work, train.images, CPU)
    (work / LATENTS_FILE).write_bytes(b"cut short")
    again = pool_latents(work, train.images, CPU)
    assert "cannot be read" in capsys.readouterr().out
    assert torch.allclose(good, again) and torch.equal(torch.load(work / LATENTS_FILE)["latents"], again)


def test_packed_work_resumes_on_a_fresh_machine(tmp_path):
    work = tmp_path / "work"
    settings = dict(snapshot_fractions=(0.25,))
    assert (
        run_stage(
            tiny_diffusion_stage(work / "diffusion", **settings),
            work / "diffusion",
            steps=8,
            budget_minutes=None,
            chunk_steps=4,
        )
        is None
    )
    archive = pack_work(work, tmp_path / "pack.tar")
    fresh = tmp_path / "fresh"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        tar.extractall(fresh)
    assert "diffusion/snapshots/unet_025.safetensors" in names
    state = torch.load(fresh / "diffusion" / "state.pt", weights_only=False)
    assert "optimizer" not in state["stage"] and state["progress"]["step"] == 4
    assert state["stage"]["unet"]["conv_in.weight"].dtype == torch.float16
    done = run_stage(
        tiny_diffusion_stage(fresh / "diffusion", **settings), fresh / "diffusion", steps=8, budget_minutes=None
    )
    assert done is not None and done["steps"] == 8


def spy(monkeypatch, module, name: str, images_of) -> list:
    """Replace ``module.name`` by a wrapper that records ``images_of(*arguments)`` of each call."""
    calls, real = [], getattr(module, name)

    def recording(*args, **kwargs):
        calls.append(np.array(images_of(*args)))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return calls


class ByRed(torch.nn.Module):
    """Labels an image by its red level: class k for red near 50 k (a stand-in classifier for predict)."""

    resolution = 8

    def __init__(self, classes: int):
        super().__init__()
        self.levels = torch.nn.Parameter(torch.arange(classes, dtype=torch.float32) * 50 / 255)

    def forward(self, x):
        return -((x[:, 0].mean(dim=(1, 2))[:, None] - self.levels) ** 2)


def test_judge_accuracy_overall_and_per_class():
    from repro.pretrain.card import judge_accuracy

    red = np.array([0, 0, 50, 50, 100, 0], np.uint8)  # labelled: 0, 1 (wrong), 1, 1, 0 (wrong), 0
    labels = np.array([0, 1, 1, 1, 0, 0])
    images = np.zeros((6, 8, 8, 3), np.uint8)
    images[..., 0] = red[:, None, None]
    scored = judge_accuracy(ByRed(3), FakeSet(images, labels, ["cat", "dog", "ship"], [str(i) for i in range(6)]))
    assert scored["percent"] == pytest.approx(100 * 4 / 6, abs=0.01)
    assert scored["per_class_percent"] == {"cat": pytest.approx(66.7), "dog": pytest.approx(66.7), "ship": None}
    assert scored["per_class_images"] == {"cat": 3, "dog": 3, "ship": 0}


@pytest.mark.skipif(not os.environ.get("REPRO_DATA"), reason="needs $REPRO_DATA with the akamaster CIFAR-10 judge")
def test_smoke_cli_end_to_end(tmp_path, monkeypatch):
    pytest.importorskip("repro.data.gpu")  # the card's classifier trains on the data layer's GPU batches
    import repro.pretrain.card as card
    import repro.pretrain.pool as pool
    from repro.sampling import vae_roundtrip

    monkeypatch.setattr(pool, "load_pool", lambda root=None: fake_pool(48))
    trained_on = spy(monkeypatch, card, "train_pool_classifier", lambda train_set, *_: train_set.images)
    featurised = spy(monkeypatch, card, "pool_features", lambda _, images, *__: images)
    monkeypatch.setattr(
        pool, "load_cifar_target", lambda root=None: replace(fake_pool(10, size=32), captions=None, domains=None)
    )
    args = [
        "pretrain",
        "all",
        "--scale",
        "smoke",
        "--work",
        str(tmp_path / "work"),
        "--weights",
        str(tmp_path / "weights"),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    folder = tmp_path / "weights" / "mini"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["prompt_fidelity"]["by_guidance_scale"]) == {"1", "3"}
    assert np.isfinite(metrics["reconstruction"]["holdout_psnr_db"])
    assert metrics["reconstruction"]["cifar10_target_images"] == 8
    for name in ("README.md", "loss_curves.png", "samples_photo.png", "samples_domains.png"):
        assert (folder / name).is_file()
    assert "a photo of a chain saw" in (folder / "README.md").read_text()
    # the third-party CIFAR-10 judge of the data folder labels the CIFAR-10 captions (cat, dog) at 32 px
    assert set(metrics["cifar10_judge"]["by_guidance_scale"]["3"]["per_class_percent"]) == {"cat", "dog"}
    assert set(metrics["feature_distance"]["by_guidance_scale"]) == {"1", "3"}
    assert metrics["text_encoder"]["texts"] == 7  # six captions and the empty prompt
    assert metrics["throughput"]["diffusion"]["images_per_second"] > 0

    # the judge trained on the training pool's VAE round trips and compares samples with the held-out round trips
    scale = scale_settings("smoke")
    train, holdout = split_pool(fake_pool(48), scale.holdout_images, scale.seed, scale.pool_images)
    bundle = load_generator(folder, dtype="fp32", device=CPU)
    assert len(trained_on) == 1 and trained_on[0].shape == train.images.shape
    assert np.array_equal(trained_on[0], vae_roundtrip(bundle, train.images))
    assert not np.array_equal(trained_on[0], train.images)
    # features of: the held-out images, the samples at each guidance scale, training images (the floor)
    assert len(featurised) == 2 + len(scale.card.guidance_scales)
    assert np.array_equal(featurised[0], vae_roundtrip(bundle, holdout.images))
    reference = np.random.default_rng(scale.seed).choice(len(train), len(holdout), replace=False)
    assert np.array_equal(featurised[-1], trained_on[0][reference])
    judge = metrics["classifier"]
    assert judge["trained_on"] == "VAE round trips of the training pool"
    for key in ("holdout_roundtrip_accuracy", "holdout_raw_accuracy"):
        assert 0 <= judge[key] <= 100
    per_class, counts = judge["holdout_roundtrip_per_class_percent"], judge["holdout_per_class_images"]
    assert set(per_class) == set(counts) == {"cat", "dog", "chain saw"} and sum(counts.values()) == 16
    assert all((v is None) == (counts[k] == 0) and (v is None or 0 <= v <= 100) for k, v in per_class.items())
    assert metrics["prompt_fidelity"]["caption_class"]["a cartoon of a chain saw"] == "chain saw"
    assert metrics["feature_distance"]["real_images"] == "VAE round trips"
    readme = (folder / "README.md").read_text()
    assert "trained on the autoencoder's reconstructions" in readme and "so that the autoencoder's blur" in readme
    assert f"{judge['holdout_raw_accuracy']}% of the raw held-out images" in readme
    assert "ceiling: held-out round trips of the class" in readme
    assert main(args) == 0  # everything done: resumes to the end at once and rebuilds the card

    # a new UNet on the adopted autoencoder: the exported VAE is the same weights
    work2 = [
        "--work",
        str(tmp_path / "work2"),
        "--weights",
        str(tmp_path / "weights"),
        "--device",
        "cpu",
        "--scale",
        "smoke",
    ]
    assert main(["pretrain", "adopt-vae", *work2]) == 0
    adopted = json.loads((tmp_path / "work2" / "autoencoder" / "done.json").read_text())
    assert adopted["adopted"]["from"] == str(folder) and adopted["steps"] == metrics["training"]["autoencoder"]["steps"]
    # the record names the adopted autoencoder's weights, not the hash of an empty file list
    assert adopted["adopted"]["fingerprint"] == folder_fingerprint(folder, parts=("vae",))
    assert main(["pretrain", "unet", *work2, "--caption-balance", "1"]) == 0
    assert main(["pretrain", "export", "--work", str(tmp_path / "work2"), "--weights", str(tmp_path / "w2")]) == 0
    # the asked caption balance trained the UNet and is on its record (the first model kept the scale's 0.75)
    record = json.loads((tmp_path / "w2" / "mini" / "training" / "diffusion.json").read_text())
    assert record["settings"]["caption_balance"] == 1.0
    assert metrics["training"]["diffusion"]["settings"]["caption_balance"] == 0.75
    vae = "vae/diffusion_pytorch_model.safetensors"
    assert (tmp_path / "w2" / "mini" / vae).read_bytes() == (folder / vae).read_bytes()
    monkeypatch.setattr(pool, "load_pool", lambda root=None: fake_pool(40))  # another pool: another split
    assert main(["pretrain", "adopt-vae", *work2[:1], str(tmp_path / "work3"), *work2[2:]]) == 2
