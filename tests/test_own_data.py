"""Your own data: a folder of class subfolders or an .npz is a dataset at its own size, and runs through
`repro invert`, `sample`, `train` and `metrics` and the experiments' image sets; the README's example works."""

from __future__ import annotations

import os
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from repro.classifiers import load_classifier
from repro.cli import main
from repro.data import load_split
from repro.experiments.protocol import test_set as protocol_test_set
from repro.experiments.protocol import training_set, training_split
from repro.generators import save_bundle
from repro.generators.tiny import tiny_generator
from repro.inversion import load_checkpoints
from repro.sampling import SyntheticDataset
from tests.conftest import REPO

from .own_data import DIGITS, digit_folder, digit_images, digit_npz


def test_a_folder_of_class_subfolders_is_a_dataset_at_its_own_size_split_80_20(tmp_path):
    folder = digit_folder(tmp_path / "digits", per_class=10, size=28)
    everything = load_split(str(folder), "all")
    assert everything.images.shape == (30, 28, 28, 3) and everything.classes == sorted(DIGITS)
    train, test = load_split(str(folder), "train"), load_split(str(folder), "test")
    assert train.class_counts().tolist() == [8, 8, 8] and test.class_counts().tolist() == [2, 2, 2]
    assert not set(train.ids) & set(test.ids) and set(train.ids) | set(test.ids) == set(everything.ids)
    # the experiments' image sets take it like a registered dataset without a target split
    assert training_split(str(folder), "mini") == "train"
    assert training_set(str(folder), 3, "mini").class_counts().tolist() == [3, 3, 3]
    assert protocol_test_set(str(folder)).ids == test.ids


def test_an_npz_of_images_and_labels_is_the_same_dataset_with_its_own_class_names(tmp_path):
    own = load_split(str(digit_npz(tmp_path / "digits.npz", per_class=4, size=28)), "all")
    images, labels = digit_images(per_class=4, size=28)
    assert own.classes == list(DIGITS) and own.labels.tolist() == labels.tolist()
    assert np.array_equal(own.images, np.repeat(images[..., None], 3, axis=-1))  # grayscale made RGB, unresized
    folder = load_split(str(digit_folder(tmp_path / "digits", per_class=4, size=28)), "all")
    for name in DIGITS:
        assert np.array_equal(
            folder.images[folder.labels == folder.classes.index(name)],
            own.images[own.labels == own.classes.index(name)],
        )


def test_images_are_resized_only_when_asked_and_then_it_is_said(tmp_path, capsys):
    folder = str(digit_folder(tmp_path / "digits", per_class=2, size=28))
    assert load_split(folder, "all").resolution == 28 and "resized" not in capsys.readouterr().err
    assert load_split(folder, "all", size=32).resolution == 32
    assert "centre-cropped and resized to 32 px, as --image-size asked" in capsys.readouterr().err


def test_your_own_digits_run_through_invert_sample_train_and_metrics_at_their_own_size(tmp_path, capsys):
    """The generator works at its own 64 px (the mini model's): `invert` resizes the 28 px digits for it only;
    samples, the classifier and the metrics stay at 28 px."""
    generator = str(save_bundle(tiny_generator(resolution=64), tmp_path / "generator"))
    digits = str(digit_folder(tmp_path / "digits", per_class=10, size=28))
    emb, syn, clf, metrics = (str(tmp_path / name) for name in ("emb", "syn", "clf", "metrics.csv"))

    assert (
        main(
            [
                "invert",
                "--generator",
                generator,
                "--dataset",
                digits,
                "--inversion-steps",
                "3",
                "--batch",
                "32",
                "--tokens",
                "2",
                "--out",
                emb,
                "--quiet",
            ]
        )
        == 0
    )
    assert "28 px images of" in capsys.readouterr().err
    (table,) = load_checkpoints([emb]).values()
    assert len(table) == 24 and (table.meta["resolution"], table.meta["source_resolution"]) == (64, 28)

    assert (
        main(["sample", "--embeddings", emb, "--per-image", "2", "--inference-steps", "2", "--out", syn, "--quiet"])
        == 0
    )
    synthetic = SyntheticDataset(syn)
    assert len(synthetic) == 48 and synthetic.resolution == 28 and synthetic.classes == sorted(DIGITS)

    assert (
        main(
            [
                "train",
                "--arch",
                "cifar_resnet20",
                "--synthetic",
                syn,
                "--test",
                digits,
                "--train-steps",
                "3",
                "--batch-size",
                "16",
                "--save",
                "--device",
                "cpu",
                "--out",
                clf,
                "--quiet",
            ]
        )
        == 0
    )
    scores = pd.read_csv(tmp_path / "clf" / "results.csv")
    assert scores["column"].tolist() == [digits] and scores["value"].between(0, 100).all()
    assert load_classifier(tmp_path / "clf" / "model-seed0.pt").resolution == 28

    assert (
        main(
            [
                "metrics",
                "--real",
                f"{digits}:test",
                "--fake",
                syn,
                "--features",
                f"clf:{tmp_path / 'clf' / 'model-seed0.pt'}",
                "--device",
                "cpu",
                "--out",
                metrics,
            ]
        )
        == 0
    )
    row = pd.read_csv(metrics).iloc[0]
    assert (row["n_real"], row["n_fake"]) == (6, 48) and np.isfinite(row["fid@clf"])


def readme_example() -> list[str]:
    """The command lines of the README's own-data example."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Run it on your own data", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("REPRO_DATA"), reason="the example exports CIFAR-10 test images")
def test_the_readme_example_works_as_written(tmp_path):
    """Each line as written, in a fresh folder; only the generator is a tiny random one of the mini model's size
    (REPRO_MINI_GENERATOR), so that it runs in CI time."""
    lines = readme_example()
    assert len(lines) == 5
    generator = save_bundle(tiny_generator(resolution=64), tmp_path / "generator")
    env = {**os.environ, "REPRO_MINI_GENERATOR": str(generator), "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    for line in lines:
        done = subprocess.run(
            line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, executable="/bin/bash"
        )
        assert done.returncode == 0, f"{line}\n{done.stderr[-3000:]}"
    row = pd.read_csv(tmp_path / "my" / "metrics.csv").iloc[0]
    assert row["n_real"] == 20 and np.isfinite(row["fid@clf"])
