"""`repro ddis token|sample|deepinversion` end to end on a tiny generator folder and a tiny saved teacher."""

import json

import pytest

from repro.classifiers import build_model, save_classifier
from repro.cli import main
from repro.ddis.tokens import ClassTokens
from repro.files import ARGUMENTS_FILE
from repro.generators import save_bundle
from repro.generators.tiny import tiny_generator
from repro.sampling.datafree import read_dataset
from repro.sampling.dataset import SyntheticDataset

CLASSES = "cat,dog,airplane"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddis_cli")
    generator = save_bundle(tiny_generator(resolution=32), root / "generator")
    teacher = save_classifier(build_model("cifar_resnet20", 3, 16), root / "teacher.pt")
    return root, str(generator), str(teacher)


def test_token_then_every_sampling_mode_then_deepinversion(setup, capsys):
    root, generator, teacher = setup
    common = [
        "--generator",
        generator,
        "--teacher",
        teacher,
        "--classes",
        CLASSES,
        "--inference-steps",
        "2",
        "--quiet",
        "--device",
        "cpu",
        "--eta",
        "0.5",
    ]
    assert (
        main(
            [
                "ddis",
                "token",
                *common,
                "--cat-max-epochs",
                "1",
                "--cat-grad-accumulation",
                "2",
                "--out",
                str(root / "tokens.safetensors"),
                "--history",
                str(root / "history.csv"),
            ]
        )
        == 0
    )
    recorded = json.loads((root / ARGUMENTS_FILE).read_text())  # beside the tokens file, by the registry's names
    assert (recorded["cat_max_epochs"], recorded["cat_grad_accumulation"], recorded["inference_steps"]) == (1, 2, 2)
    assert recorded["weights"]
    tokens = ClassTokens.load(root / "tokens.safetensors")
    assert tokens.classes == CLASSES.split(",") and tokens.width == 32
    assert "git_commit" in (root / "history.csv").read_text().splitlines()[0]
    for mode in ("vanilla", "ddis"):  # the other two modes route through the same code (test_ddis_sampler)
        out = root / f"syn_{mode}"
        assert (
            main(
                [
                    "ddis",
                    "sample",
                    "--mode",
                    mode,
                    *common,
                    "--tokens",
                    str(root / "tokens.safetensors"),
                    "--images-per-class",
                    "2",
                    "--batch-size",
                    "4",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        assert json.loads((out / ARGUMENTS_FILE).read_text())["images_per_class"] == 2
        images, labels, classes = read_dataset(out)
        assert images.shape == (6, 32, 32, 3) and classes == CLASSES.split(",")
    assert (
        main(
            [
                "ddis",
                "deepinversion",
                "--teacher",
                teacher,
                "--classes",
                CLASSES,
                "--images-per-class",
                "1",
                "--deepinversion-iterations",
                "2",
                "--deepinversion-batch",
                "3",
                "--device",
                "cpu",
                "--quiet",
                "--out",
                str(root / "di"),
            ]
        )
        == 0
    )
    assert json.loads((root / "di" / ARGUMENTS_FILE).read_text())["deepinversion_iterations"] == 2
    images, labels, _ = read_dataset(root / "di")
    assert images.shape == (3, 16, 16, 3) and sorted(labels.tolist()) == [0, 1, 2]


def test_deepinversion_overrides_reach_the_recorded_settings(setup):
    root, _, teacher = setup
    common = [
        "ddis",
        "deepinversion",
        "--teacher",
        teacher,
        "--classes",
        CLASSES,
        "--images-per-class",
        "1",
        "--deepinversion-iterations",
        "1",
        "--deepinversion-batch",
        "3",
        "--device",
        "cpu",
        "--quiet",
    ]
    assert main([*common, "--out", str(root / "di_preset")]) == 0
    preset = SyntheticDataset(root / "di_preset").index["config"]
    assert (preset["lr"], preset["r_feature"]) == (0.05, 10.0)  # a 16 px teacher: the authors' CIFAR-10 setting
    assert (
        main([*common, "--deepinversion-lr", "0.25", "--deepinversion-r-feature", "0", "--out", str(root / "di_lr")])
        == 0
    )
    config = SyntheticDataset(root / "di_lr").index["config"]
    assert (config["lr"], config["r_feature"], config["iterations"]) == (0.25, 0.0, 1)


def test_missing_inputs_are_named(setup, capsys):
    root, generator, teacher = setup
    assert (
        main(
            [
                "ddis",
                "sample",
                "--mode",
                "cat",
                "--generator",
                generator,
                "--classes",
                CLASSES,
                "--images-per-class",
                "1",
                "--out",
                str(root / "x"),
            ]
        )
        == 2
    )
    assert "--tokens" in capsys.readouterr().err
    assert main(["ddis", "token", "--generator", generator, "--teacher", teacher, "--out", str(root / "t")]) == 2
    assert "--classes" in capsys.readouterr().err
    assert (
        main(
            [
                "ddis",
                "sample",
                "--mode",
                "dag",
                "--generator",
                generator,
                "--teacher",
                str(root / "none.pt"),
                "--classes",
                CLASSES,
                "--images-per-class",
                "1",
                "--out",
                str(root / "x"),
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
