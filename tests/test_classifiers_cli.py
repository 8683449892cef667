"""`repro train`: train on folders of images, write provenance rows and weights, evaluate a checkpoint."""

from __future__ import annotations

import importlib
import json
import os

import numpy as np
import pandas as pd
import pytest

from repro.classifiers import build_model, evaluate, load_classifier
from repro.cli import main
from repro.files import ARGUMENTS_FILE
from repro.provenance import PROVENANCE_COLUMNS, phase_seconds
from repro.sampling.dataset import PROVENANCE_FIELDS, SyntheticWriter

from .test_classifiers_support import bars_dataset


def _folder(path, pool):
    """``pool`` written as a synthetic-dataset folder (the format `repro sample` writes)."""
    meta = {"classes": pool.classes, "resolution": int(pool.images.shape[1]), "config_hash": "test"}
    writer = SyntheticWriter(path, meta, [len(pool)])
    writer.write(0, pool.images, pool.labels, {k: np.zeros(len(pool)) for k in PROVENANCE_FIELDS})
    return str(path)


def test_train_writes_rows_and_weights_then_the_checkpoint_evaluates_the_same(tmp_path, capsys):
    train = _folder(tmp_path / "train", bars_dataset(32, seed=0))
    test_set = bars_dataset(8, seed=1)
    test = _folder(tmp_path / "test", test_set)
    out = tmp_path / "out"
    before = phase_seconds().get("training", 0.0)
    code = main(
        [
            "train",
            "--arch",
            "cifar_resnet20",
            "--synthetic",
            train,
            "--test",
            test,
            "--train-steps",
            "15",
            "--batch-size",
            "32",
            "--seed",
            "0",
            "1",
            "--out",
            str(out),
            "--save",
            "--device",
            "cpu",
            "--quiet",
            "--experiment",
            "demo",
            "--scale",
            "smoke",
        ]
    )
    assert code == 0
    assert phase_seconds()["training"] > before  # a teacher or pool classifier job says where its time went
    rows = pd.read_csv(out / "results.csv")
    assert len(rows) == 2 and list(rows["seed"]) == [0, 1]
    assert set(PROVENANCE_COLUMNS) <= set(rows.columns)
    assert (rows["experiment"] == "demo").all() and (rows["unit"] == "%").all()
    assert rows["value"].between(0, 100).all() and (rows["steps"] == 15).all()
    assert rows["train_seconds"].gt(0).all() and rows["column"].eq(test).all()
    assert json.loads((out / ARGUMENTS_FILE).read_text())["train_steps"] == 15  # what a teacher asset is checked by

    saved = out / "model-seed1.pt"
    model = load_classifier(saved)
    accuracy = evaluate(model, test_set.images, test_set.labels)
    assert accuracy == pytest.approx(rows["value"].iloc[1])
    assert (
        main(
            [
                "train",
                "--eval-checkpoint",
                str(saved),
                "--arch",
                "cifar_resnet20",
                "--test",
                test,
                "--out",
                str(tmp_path / "eval"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    again = pd.read_csv(tmp_path / "eval" / "results.csv")
    assert again["value"].iloc[0] == pytest.approx(accuracy)


def test_bad_requests_end_with_one_clear_message(tmp_path, capsys):
    saved = tmp_path / "r20.pt"
    from repro.classifiers import save_classifier

    save_classifier(build_model("cifar_resnet20", 4, 16), saved)
    test = _folder(tmp_path / "test", bars_dataset(4, seed=1))
    code = main(
        [
            "train",
            "--eval-checkpoint",
            str(saved),
            "--arch",
            "resnet18",
            "--test",
            test,
            "--out",
            str(tmp_path / "o"),
            "--device",
            "cpu",
        ]
    )
    assert code == 2
    assert "holds a cifar_resnet20 but --arch resnet18" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--arch",
                "resnet18",
                "--train-steps",
                "5",
                "--test",
                test,
                "--ratio",
                "1:1",
                "--synthetic",
                test,
                "--out",
                str(tmp_path / "o"),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    assert "give both --train and --synthetic" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--arch",
                "resnet18",
                "--train-steps",
                "5",
                "--synthetic",
                test,
                "--test",
                "nowhere",
                "--out",
                str(tmp_path),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    assert "unknown dataset 'nowhere'" in capsys.readouterr().err
    assert main(["train", "--arch", "resnet18", "--train-steps", "5", "--test", test, "--out", str(tmp_path)]) == 2
    assert "no training data" in capsys.readouterr().err


@pytest.mark.skipif(not os.environ.get("REPRO_DATA"), reason="needs $REPRO_DATA with the akamaster models")
def test_akamaster_resnet20_classifies_cifar10_test_images():
    """The third-party checkpoint on 500 CIFAR-10 test JPEGs. It scores 91.7 % on the original images; the
    offline export is JPEG quality 75 (mean error 6 levels per pixel), which costs it about 10 points: 81 % on
    all 10,000 test JPEGs (and 20/20 on foolbox's original PNGs of the first 20 test images, 18/20 on their
    JPEG copies)."""
    from pathlib import Path

    from repro.data import load_split

    models = Path(os.environ["REPRO_DATA"]) / "models"
    checkpoint = next(models.glob("akamaster-cifar10-resnet20-*.th"), None)
    if checkpoint is None:
        pytest.skip("no akamaster ResNet-20 in $REPRO_DATA/models")
    test = load_split("cifar10", "test").total(500, seed=0)
    model = load_classifier(checkpoint, arch="cifar_resnet20")
    assert 75.0 < evaluate(model, test.images, test.labels, device="cpu") < 95.0


def test_holdout_per_class_tests_on_images_kept_out_of_training(tmp_path, monkeypatch):
    import repro.data
    from repro.data import ImageSet

    pool = bars_dataset(24, seed=0)
    split = ImageSet(pool.images, pool.labels, pool.classes, [f"pool/{i}" for i in range(len(pool))], "pool/train")
    seen = {}

    def fake_train(model, data, recipe, **kw):
        seen["train_images"] = len(data.sources[0].labels)
        from repro.classifiers.train import TrainReport

        return TrainReport(steps=recipe.steps, seconds=0.0, images_per_second=0.0, timed_from=0)

    monkeypatch.setattr(repro.data, "load_split", lambda dataset, name, root=None, size=None: split)
    monkeypatch.setattr("repro.classifiers.train.train_classifier", fake_train)
    code = main(
        [
            "train",
            "--arch",
            "cifar_resnet20",
            "--train",
            "pool:train",
            "--holdout-per-class",
            "2",
            "--train-steps",
            "3",
            "--batch-size",
            "4",
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert code == 0
    rows = pd.read_csv(tmp_path / "results.csv")
    assert rows["column"].tolist() == ["holdout"]
    assert seen["train_images"] == len(split) - 2 * len(split.classes)


def test_train_roundtrip_trains_and_holds_out_the_vae_round_trips(tmp_path, monkeypatch, capsys):
    import repro.data
    import repro.generators
    from repro.data import ImageSet
    from repro.generators.tiny import tiny_generator
    from repro.sampling.roundtrip import vae_roundtrip

    pool = bars_dataset(24, seed=0)
    split = ImageSet(pool.images, pool.labels, pool.classes, [f"pool/{i}" for i in range(len(pool))], "pool/train")
    bundle = tiny_generator(resolution=32)
    seen = {}

    def fake_train(model, data, recipe, **kw):
        seen["train"] = data.sources[0]
        from repro.classifiers.train import TrainReport

        return TrainReport(steps=recipe.steps, seconds=0.0, images_per_second=0.0, timed_from=0)

    def fake_evaluate(model, images, labels, **kw):
        seen["holdout"] = images
        return 50.0

    monkeypatch.setattr(repro.data, "load_split", lambda dataset, name, root=None, size=None: split)
    monkeypatch.setattr(repro.generators, "load_generator", lambda name, **kw: bundle)
    monkeypatch.setattr("repro.classifiers.train.train_classifier", fake_train)
    monkeypatch.setattr(importlib.import_module("repro.classifiers.evaluate"), "evaluate", fake_evaluate)
    common = ["train", "--arch", "cifar_resnet20", "--train-steps", "3", "--batch-size", "4", "--device", "cpu"]
    args = ["--train", "pool:train", "--holdout-per-class", "2", "--train-roundtrip", "mini", "--quiet"]
    assert main([*common, *args, "--out", str(tmp_path / "out")]) == 0
    held = split.per_class(2, seed=0)
    trained = split.without(held.ids)
    assert seen["train"].ids == trained.ids  # the same split as without the round trip
    np.testing.assert_array_equal(seen["train"].images, vae_roundtrip(bundle, trained.images))
    np.testing.assert_array_equal(seen["holdout"], vae_roundtrip(bundle, held.images))
    assert not np.array_equal(seen["train"].images, trained.images)
    # fewer images to round-trip: a seeded few of each class
    assert main([*common, *args, "--train-per-class", "3", "--out", str(tmp_path / "few")]) == 0
    assert seen["train"].ids == trained.per_class(3, seed=0).ids and len(seen["train"].ids) == 3 * len(split.classes)
    # round trips of a folder of samples are not what the option is for: refused, naming it
    folder = _folder(tmp_path / "samples", pool)
    refused = main([*common, "--synthetic", folder, "--test", folder, "--train-roundtrip", "mini", "--out", "x"])
    assert refused == 2 and "--train-roundtrip" in capsys.readouterr().err
