"""Every long job, killed with SIGKILL part-way (``tests/killer.py``) and run again, ends with exactly the
outputs of an uninterrupted run with the same seed (bit for bit on a CPU), and a killed job leaves nothing that
blocks or corrupts its rerun.

The uninterrupted runs go through ``repro.cli.main`` in this process; the killed ones through the console
command in a subprocess, both in one torch thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from repro.classifiers import build_model, load_classifier, save_classifier
from repro.cli import main
from repro.ddis.tokens import ClassTokens
from repro.generators import save_bundle
from repro.generators.tiny import tiny_generator
from repro.sampling.dataset import SyntheticDataset
from tests.conftest import REPO

from .own_data import digit_folder
from .test_pretrain_stages import fake_pool

KILLED = -9


def relaunch(*command: str, kill: str | None = None, setup: str | None = None) -> subprocess.CompletedProcess:
    """``repro COMMAND`` in a subprocess that kills itself after the call ``kill`` names (MODULE:QUALNAME:N)."""
    options = (["--kill", kill] if kill else []) + (["--setup", setup] if setup else [])
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tests.killer", *options, "--", *command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def same_shards(whole: Path, resumed: Path) -> bool:
    """Whether two synthetic datasets hold equal arrays, shard by shard (NaN provenance fields equal too)."""
    pairs = list(zip(SyntheticDataset(whole).shards(), SyntheticDataset(resumed).shards()))
    return len(pairs) == len(SyntheticDataset(whole).index["shards"]) and all(
        a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a)
        for a, b in pairs
    )


def killed_then_resumed(*command: str, kill: str, setup: str | None = None) -> None:
    first = relaunch(*command, kill=kill, setup=setup)
    assert first.returncode == KILLED, first.stderr[-2000:]
    second = relaunch(*command, setup=setup)
    assert second.returncode == 0, second.stderr[-2000:]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny generator, 12 digits of your own data (3 classes, 28 px), and a tiny teacher."""
    root = tmp_path_factory.mktemp("kill")
    generator = save_bundle(tiny_generator(resolution=32), root / "generator")
    digits = digit_folder(root / "digits", per_class=4)
    teacher = save_classifier(build_model("cifar_resnet20", 3, 16), root / "teacher.pt")
    return {"root": root, "generator": str(generator), "digits": str(digits), "teacher": str(teacher)}


def invert_args(world) -> list[str]:
    return [
        "invert",
        "--generator",
        world["generator"],
        "--dataset",
        world["digits"],
        "--split",
        "all",
        "--inversion-steps",
        "6",
        "--checkpoints",
        "3",
        "--batch",
        "4",
        "--tokens",
        "2",
        "--state-every",
        "2",
        "--quiet",
    ]


def test_invert_killed_inside_a_group_resumes_to_the_same_embeddings(world, tmp_path):
    assert main([*invert_args(world), "--out", str(tmp_path / "whole")]) == 0
    out = tmp_path / "killed"
    # 3 groups of 4 images, 6 steps each: the 9th step is the third of the second group, whose state was saved at 2
    first = relaunch(*invert_args(world), "--out", str(out), kill="repro.inversion.trainer:GroupTrainer.step:9")
    assert first.returncode == KILLED
    assert (out / ".work" / "group00000.safetensors").exists() and (out / ".work" / "group00001.state.pt").exists()
    assert relaunch(*invert_args(world), "--out", str(out)).returncode == 0
    for name in ("step00003.safetensors", "step00006.safetensors"):
        whole, resumed = load_file(tmp_path / "whole" / name), load_file(out / name)
        assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert not (out / ".work").exists() or not any((out / ".work").iterdir())


def test_invert_killed_before_its_first_save_leaves_nothing_that_blocks_a_changed_rerun(world, tmp_path):
    out = str(tmp_path / "emb")
    first = relaunch(
        *invert_args(world), "--out", out, "--inversion-lr", "0.5", kill="repro.inversion.trainer:GroupTrainer.step:1"
    )
    assert first.returncode == KILLED and (tmp_path / "emb" / "run.json").exists()
    assert main([*invert_args(world), "--out", out]) == 0


@pytest.fixture(scope="module")
def embeddings(world):
    out = world["root"] / "embeddings"
    assert main([*invert_args(world), "--out", str(out)]) == 0
    return str(out)


def test_sample_killed_inside_a_shard_resumes_to_the_same_images(embeddings, tmp_path):
    args = [
        "sample",
        "--embeddings",
        embeddings,
        "--per-image",
        "2",
        "--inference-steps",
        "2",
        "--shard-size",
        "4",
        "--batch",
        "2",
        "--checkpoints",
        "3,6",
        "--quiet",
    ]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    out = tmp_path / "killed"
    # 24 images in 6 shards of 2 batches: the 5th batch is the first of the third shard
    first = relaunch(*args, "--out", str(out), kill="repro.sampling.sampler:Sampler.generate:5")
    assert first.returncode == KILLED
    assert sorted(p.name for p in out.glob("shard*.npz")) == ["shard00000.npz", "shard00001.npz"]
    assert relaunch(*args, "--out", str(out)).returncode == 0
    assert same_shards(tmp_path / "whole", out)


def test_train_killed_in_its_second_seed_resumes_to_the_same_weights_and_scores(world, tmp_path):
    args = [
        "train",
        "--arch",
        "cifar_resnet20",
        "--train",
        world["digits"],
        "--test",
        world["digits"],
        "--train-steps",
        "4",
        "--batch-size",
        "4",
        "--seed",
        "0",
        "1",
        "--save",
        "--device",
        "cpu",
        "--quiet",
    ]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    out = tmp_path / "killed"
    first = relaunch(*args, "--out", str(out), kill="repro.classifiers.train:TrainStep.__call__:6")
    assert first.returncode == KILLED
    assert pd.read_csv(out / "results.csv")["seed"].tolist() == [0] and not (out / "model-seed1.pt").exists()
    assert relaunch(*args, "--out", str(out)).returncode == 0
    whole, resumed = pd.read_csv(tmp_path / "whole" / "results.csv"), pd.read_csv(out / "results.csv")
    assert whole["seed"].tolist() == resumed["seed"].tolist() == [0, 1]
    assert whole["value"].tolist() == resumed["value"].tolist()
    for seed in (0, 1):
        a = load_classifier(tmp_path / "whole" / f"model-seed{seed}.pt").state_dict()
        b = load_classifier(out / f"model-seed{seed}.pt").state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_class_tokens_killed_inside_an_epoch_resume_to_the_same_tokens(world, tmp_path):
    # a stop accuracy of 1 keeps every class learning for all 4 epochs; one denoising batch per epoch
    args = [
        "ddis",
        "token",
        "--generator",
        world["generator"],
        "--teacher",
        world["teacher"],
        "--classes",
        "cat,dog,airplane",
        "--inference-steps",
        "2",
        "--cat-max-epochs",
        "4",
        "--cat-grad-accumulation",
        "2",
        "--cat-stop-accuracy",
        "1",
        "--eta",
        "0.5",
        "--device",
        "cpu",
        "--quiet",
    ]
    assert main([*args, "--out", str(tmp_path / "whole.safetensors")]) == 0
    out = tmp_path / "killed.safetensors"
    killed_then_resumed(*args, "--out", str(out), kill="repro.ddis.sampler:DDISSampler.denoise:3")
    whole, resumed = ClassTokens.load(tmp_path / "whole.safetensors"), ClassTokens.load(out)
    assert torch.equal(whole.vectors, resumed.vectors) and whole.metadata == resumed.metadata
    assert not (tmp_path / "killed.safetensors.resume.pt").exists()


def test_deepinversion_killed_between_batches_resumes_to_the_same_images(world, tmp_path):
    args = [
        "ddis",
        "deepinversion",
        "--teacher",
        world["teacher"],
        "--classes",
        "cat,dog,airplane",
        "--images-per-class",
        "2",
        "--deepinversion-iterations",
        "2",
        "--deepinversion-batch",
        "2",
        "--device",
        "cpu",
        "--quiet",
    ]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    out = tmp_path / "killed"
    first = relaunch(*args, "--out", str(out), kill="repro.baselines.deepinversion:invert_batch:2")
    assert first.returncode == KILLED and [p.name for p in out.glob("shard*.npz")] == ["shard00000.npz"]
    assert relaunch(*args, "--out", str(out)).returncode == 0
    assert same_shards(tmp_path / "whole", out)


def pool_of_32(data_root=None):
    return fake_pool(32)


def small_pool() -> None:
    """--setup for pretraining: the smoke scale on 32 generated images instead of the mini world's pool."""
    import repro.pretrain.pool

    repro.pretrain.pool.load_pool = pool_of_32


def test_pretraining_killed_between_checkpoints_resumes_to_the_same_autoencoder(tmp_path, monkeypatch):
    args = ["pretrain", "vae", "--scale", "smoke", "--steps", "4", "--device", "cpu"]
    monkeypatch.setattr("repro.pretrain.pool.load_pool", pool_of_32)
    assert main([*args, "--work", str(tmp_path / "whole")]) == 0
    work = str(tmp_path / "killed")
    setup = "tests.test_kill_resume:small_pool"
    chunk = relaunch(*args, "--work", work, "--chunk-steps", "2", setup=setup)
    assert chunk.returncode == 3, chunk.stderr[-2000:]  # stopped cleanly at step 2 with its checkpoint
    # killed after step 3, before any checkpoint: the rerun goes on from step 2
    killed_then_resumed(
        *args, "--work", work, setup=setup, kill="repro.pretrain.autoencoder:AutoencoderStage.train_step:1"
    )
    whole = load_file(tmp_path / "whole" / "autoencoder" / "final" / "diffusion_pytorch_model.safetensors")
    resumed = load_file(Path(work) / "autoencoder" / "final" / "diffusion_pytorch_model.safetensors")
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)
