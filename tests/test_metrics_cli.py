"""``repro metrics``: two image sets in, one labelled CSV row with provenance out."""

import socket
import sys
import types

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from repro.cli import main
from repro.provenance import PROVENANCE_COLUMNS


def tiny_classifier():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 6),
        nn.ReLU(),
        nn.Linear(6, 4),
    )


@pytest.fixture
def image_sets(tmp_path):
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, size=(40, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "real.npz", images=real)
    (tmp_path / "fake").mkdir()
    for i, image in enumerate(rng.integers(0, 256, size=(30, 16, 16, 3), dtype=np.uint8)):
        Image.fromarray(image).save(tmp_path / "fake" / f"{i:03d}.png")
    return str(tmp_path / "real.npz"), str(tmp_path / "fake")


@pytest.fixture
def classifiers(monkeypatch):
    """repro.classifiers' load_classifier contract: a checkpoint path in, a classifier (with .resolution) out."""
    loaded = []

    def load_classifier(path):
        loaded.append(path)
        model = tiny_classifier()
        model.resolution = 24
        return model

    monkeypatch.setitem(sys.modules, "repro.classifiers", types.SimpleNamespace(load_classifier=load_classifier))
    return loaded


def test_one_labelled_row_with_provenance_from_a_classifier_checkpoint(tmp_path, image_sets, classifiers):
    real, fake = image_sets
    out = tmp_path / "metrics.csv"
    rc = main(
        [
            "metrics",
            "--real",
            real,
            "--fake",
            fake,
            "--features",
            f"pool-tiny:{tmp_path / 'ckpt.pt'}",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--batch-size",
            "16",
            "--kid-subsets",
            "5",
            "--experiment",
            "di_table2_lecf_quality",
        ]
    )
    assert rc == 0 and classifiers == [tmp_path / "ckpt.pt"]
    frame = pd.read_csv(out)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert set(PROVENANCE_COLUMNS) <= set(frame.columns)
    assert row["experiment"] == "di_table2_lecf_quality" and row["dataset"] == real and row["features"] == "pool-tiny"
    assert row["n_real"] == 40 and row["n_fake"] == 30 and row["kid_subsets"] == 5
    metric_columns = [c for c in frame.columns if "@" in c]
    assert {f"{m}@pool-tiny" for m in ("fid", "is", "kid", "precision", "recall", "density", "coverage")} <= set(
        metric_columns
    )
    assert not {"fid", "is", "kid", "precision", "recall", "density", "coverage"} & set(frame.columns)
    assert np.isfinite(row[metric_columns].astype(float)).all()


def test_a_checkpoint_saved_by_repro_classifiers_works(tmp_path, image_sets):
    from repro import classifiers

    real, fake = image_sets
    checkpoint = classifiers.save_classifier(classifiers.build_model("cifar_resnet20", 4, 32), tmp_path / "c.pt")
    out = tmp_path / "m.csv"
    rc = main(
        [
            "metrics",
            "--real",
            real,
            "--fake",
            fake,
            "--features",
            f"cifar-r20:{checkpoint}",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--metrics",
            "fid",
            "coverage",
        ]
    )
    assert rc == 0
    assert {"fid@cifar-r20", "coverage@cifar-r20"} <= set(pd.read_csv(out).columns)


def test_missing_standard_weights_stop_before_any_download(tmp_path, image_sets, monkeypatch, capsys):
    real, fake = image_sets
    for env in ("REPRO_METRIC_WEIGHTS", "REPRO_CACHE", "TORCH_HOME"):
        (tmp_path / env).mkdir()
        monkeypatch.setenv(env, str(tmp_path / env))
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    out = tmp_path / "metrics.csv"
    rc = main(["metrics", "--real", real, "--fake", fake, "--out", str(out), "--device", "cpu"])
    assert rc == 2 and attempts == [] and not out.exists()
    message = capsys.readouterr().err
    assert "weights-inception-2015-12-05-6726825d.pth" in message and "REPRO_METRIC_WEIGHTS" in message


def test_bad_feature_and_image_specs_are_clear_errors(tmp_path, image_sets, capsys, classifiers):
    real, fake = image_sets
    out = str(tmp_path / "m.csv")
    assert main(["metrics", "--real", real, "--fake", fake, "--features", "pool-tiny", "--out", out]) == 2
    assert "NAME:PATH" in capsys.readouterr().err
    nowhere = str(tmp_path / "nowhere")
    assert main(["metrics", "--real", real, "--fake", nowhere, "--features", "x:y", "--out", out]) == 2
    assert "neither a folder" in capsys.readouterr().err
    checkpoint = tmp_path / "vgg16.pth"
    torch.save(tiny_classifier().state_dict(), checkpoint)
    assert main(["metrics", "--real", real, "--fake", fake, "--features", f"vgg16:{checkpoint}", "--out", out]) == 2
    assert "not the standard vgg16" in capsys.readouterr().err
    assert main(["metrics", "--real", real, "--fake", fake, "--features", "inception:/x.pt", "--out", out]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["metrics", "--real", real, "--fake", fake, "--features", "a:x.pt", "a:y.pt", "--out", out]) == 2
    assert "distinct names" in capsys.readouterr().err
