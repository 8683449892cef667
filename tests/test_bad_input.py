"""Bad input, caught before any work: every case exits with status 2 and ends with one line that names the thing
that is wrong and the fix, and no traceback. The long parts of every command are replaced by a tripwire, so a
case that started computing fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from repro.classifiers import build_model, save_classifier
from repro.cli import main
from repro.ddis.tokens import ClassTokens
from repro.generators import save_bundle
from repro.generators.tiny import tiny_generator
from repro.inversion.store import load_table, save_table

from .own_data import digit_folder


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> dict:
    """A tiny generator, 15 digits of your own data (12 in its train split), their embeddings, a synthetic set, a
    classifier, an inversion stopped after one step, and a plain file."""
    root = tmp_path_factory.mktemp("bad_input")
    kit = {
        "root": root,
        "generator": str(save_bundle(tiny_generator(resolution=16), root / "gen")),
        "digits": str(digit_folder(root / "digits", per_class=5, size=8)),
        "file": root / "file.txt",
    }
    kit["file"].write_text("not a folder")
    invert = [
        "invert",
        "--generator",
        kit["generator"],
        "--dataset",
        kit["digits"],
        "--inversion-steps",
        "2",
        "--tokens",
        "2",
        "--resolution",
        "16",
        "--quiet",
    ]
    assert main([*invert, "--out", str(root / "emb")]) == 0
    assert main([*invert, "--stop-after-steps", "1", "--out", str(root / "partial")]) == 0
    assert (
        main(
            [
                "sample",
                "--embeddings",
                str(root / "emb"),
                "--inference-steps",
                "1",
                "--quiet",
                "--out",
                str(root / "syn"),
            ]
        )
        == 0
    )
    kit["clf"] = str(save_classifier(build_model("cifar_resnet20", 3, 8), root / "clf.pt"))
    return kit


@pytest.fixture(autouse=True)
def tripwires(monkeypatch):
    """Every bad input must be refused before the long part of its command starts."""

    def tripped(*args, **kwargs):
        raise AssertionError("the command started its work before refusing the bad input")

    for target in (
        "repro.inversion.run._train_group",
        "repro.sampling.sampler.Sampler.generate",
        "repro.classifiers.train.train_classifier",
        "repro.metrics.cli.evaluate",
        "repro.ddis.cat.learn_class_tokens",
        "repro.baselines.deepinversion.invert_batch",
        "repro.pretrain.autoencoder.train_autoencoder",
    ):
        monkeypatch.setattr(target, tripped)


def invert(kit, *extra) -> list[str]:
    return [
        "invert",
        "--generator",
        kit["generator"],
        "--dataset",
        kit["digits"],
        "--inversion-steps",
        "2",
        "--tokens",
        "2",
        "--resolution",
        "16",
        "--quiet",
        *extra,
    ]


def sample(kit, *extra) -> list[str]:
    return ["sample", "--embeddings", str(kit["root"] / "emb"), "--inference-steps", "1", "--quiet", *extra]


def train(kit, *extra) -> list[str]:
    return [
        "train",
        "--arch",
        "cifar_resnet20",
        "--train",
        kit["digits"],
        "--test",
        kit["digits"],
        "--train-steps",
        "2",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--quiet",
        *extra,
    ]


def metrics(kit, *extra, fake: str | None = None, features: str | None = None) -> list[str]:
    return [
        "metrics",
        "--real",
        f"{kit['digits']}:test",
        "--fake",
        fake or str(kit["root"] / "syn"),
        "--features",
        features or f"clf:{kit['clf']}",
        "--device",
        "cpu",
        *extra,
    ]


def synthetic_train(kit, synthetic: str, out: Path) -> list[str]:
    return [
        "train",
        "--arch",
        "cifar_resnet20",
        "--synthetic",
        synthetic,
        "--test",
        kit["digits"],
        "--train-steps",
        "1",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(out),
    ]


def folder_of(tmp: Path, layout: dict[str, list[int]]) -> str:
    """``tmp/own`` with ``{relative folder: [image sizes]}``."""
    from PIL import Image

    for sub, sizes in layout.items():
        (tmp / "own" / sub).mkdir(parents=True, exist_ok=True)
        for i, size in enumerate(sizes):
            Image.new("RGB", (size, size)).save(tmp / "own" / sub / f"{i}.png")
    return str(tmp / "own")


def folder_with_a_damaged_image(tmp: Path) -> str:
    folder = folder_of(tmp, {"a": [8], "b": [8]})
    damaged(Path(folder) / "b" / "1.png", b"\x89PNG")
    return folder


def npz(tmp: Path, **arrays) -> str:
    np.savez(tmp / "own.npz", **arrays)
    return str(tmp / "own.npz")


def damaged(path: Path, data: bytes = b"") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def halved(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def nan_embeddings(kit, tmp: Path) -> str:
    table = load_table(kit["root"] / "emb" / "step00002.safetensors")
    table.embeddings[0, 0, 0] = float("nan")
    (tmp / "nan").mkdir()
    save_table(table, tmp / "nan" / "step00002.safetensors")
    return str(tmp / "nan")


def nan_classifier(tmp: Path) -> str:
    model = build_model("cifar_resnet20", 3, 8)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("nan")
    return str(save_classifier(model, tmp / "nan.pt"))


def copied_synthetic(kit, tmp: Path, damage: str) -> str:
    copy = Path(shutil.copytree(kit["root"] / "syn", tmp / "syn"))
    if damage == "index":
        (copy / "index.json").write_text('{"format": "repro-synth')
    else:
        halved(kit["root"] / "syn" / "shard00000.npz", copy / "shard00000.npz")
    return str(copy)


def nan_tokens(tmp: Path) -> str:
    tokens = ClassTokens(["zero", "one"], torch.tensor([[0.0, float("nan")], [1.0, 2.0]]))
    return str(tokens.save(tmp / "t.safetensors"))


# Each case: (argv from the kit and a fresh folder, fragments the error line must hold: the thing, then the fix).
CASES = {
    # --- repro invert
    "invert lr below zero": lambda k, t: (
        invert(k, "--inversion-lr", "-0.1", "--out", str(t / "o")),
        ["argument --inversion-lr: -0.1 is out of range", "give a number > 0"],
    ),
    "invert zero steps": lambda k, t: (
        invert(k, "--inversion-steps", "0", "--out", str(t / "o")),
        ["argument --inversion-steps: 0", "give a whole number >= 1"],
    ),
    "invert checkpoint 0": lambda k, t: (
        invert(k, "--checkpoints", "0,2", "--out", str(t / "o")),
        ["argument --checkpoints", "give a whole number >= 1"],
    ),
    "invert per-class beyond the data": lambda k, t: (
        invert(k, "--per-class", "100000", "--out", str(t / "o")),
        ["--per-class 100000 asks for more than", "largest class has 4 images", "give --per-class 4 or fewer"],
    ),
    "invert limit beyond the data": lambda k, t: (
        invert(k, "--limit", "1000", "--out", str(t / "o")),
        ["--limit 1000", "the 12 images of", "give --limit 12 or fewer"],
    ),
    "invert out is a file": lambda k, t: (
        invert(k, "--out", str(k["file"])),
        ["--out", "file.txt must be a folder, but it is a file", "choose another"],
    ),
    "invert out inside a file": lambda k, t: (
        invert(k, "--out", str(k["file"] / "emb")),
        [f"but {k['file']} is a file", "choose another --out"],
    ),
    "invert shard out of range": lambda k, t: (
        invert(k, "--shard", "2/2", "--out", str(t / "o")),
        ["argument --shard: 2/2", "need 0 <= i < n"],
    ),
    "invert unknown dataset": lambda k, t: (
        ["invert", "--dataset", "cifar11", "--out", str(t / "o")],
        ["unknown dataset 'cifar11'", "Did you mean 'cifar10'?"],
    ),
    "invert dataset path missing": lambda k, t: (
        ["invert", "--dataset", str(t / "nothing"), "--out", str(t / "o")],
        ["nothing at", "or your own data"],
    ),
    "invert data folder missing": lambda k, t: (
        ["invert", "--dataset", "cifar10", "--data-root", str(t / "none"), "--out", str(t / "o")],
        [f"the data folder {t / 'none'}", "is not an existing folder", "point it at the folder of offline datasets"],
    ),
    "invert unknown split": lambda k, t: (
        invert(k, "--split", "val", "--out", str(t / "o")),
        ["has no split 'val'", "its splits: all, train, test"],
    ),
    "own data without class folders": lambda k, t: (
        ["invert", "--dataset", folder_of(t, {".": [8, 8]}), "--out", str(t / "o")],
        ["holds images but no class subfolders", "subfolder named after the class"],
    ),
    "own data in split folders": lambda k, t: (
        ["invert", "--dataset", folder_of(t, {"train/a": [8], "test/a": [8]}), "--out", str(t / "o")],
        ["holds split folders (test, train)", "pass one split's folder"],
    ),
    "own data of two sizes": lambda k, t: (
        ["invert", "--dataset", folder_of(t, {"a": [8, 8, 8, 8, 8], "b": [10, 10, 10, 10, 10]}), "--out", str(t / "o")],
        ["is 10x10 px, but a/0.png is 8x8 px", "pass --image-size N"],
    ),
    "own data with a damaged image": lambda k, t: (
        ["invert", "--dataset", folder_with_a_damaged_image(t), "--out", str(t / "o")],
        ["cannot decode b/1.png in", "the file is damaged or truncated: copy it again"],
    ),
    "own npz damaged": lambda k, t: (
        ["invert", "--dataset", damaged(t / "own.npz", b"PK\x03\x04cut"), "--out", str(t / "o")],
        ["own.npz is not a readable .npz file", "numpy.savez"],
    ),
    "own npz without labels": lambda k, t: (
        ["invert", "--dataset", npz(t, images=np.zeros((4, 8, 8, 3), np.uint8)), "--out", str(t / "o")],
        ["lacks the array(s) ['labels']", "write it with numpy.savez"],
    ),
    "own npz of float images": lambda k, t: (
        ["invert", "--dataset", npz(t, images=np.zeros((4, 8, 8, 3)), labels=np.zeros(4, int)), "--out", str(t / "o")],
        ["images are float64 [4, 8, 8, 3]", "uint8"],
    ),
    "own npz labels beyond its classes": lambda k, t: (
        [
            "invert",
            "--dataset",
            npz(t, images=np.zeros((2, 8, 8), np.uint8), labels=np.array([0, 5]), classes=np.array(["a", "b"])),
            "--out",
            str(t / "o"),
        ],
        ["labels run from 0 to 5, but there are 2 classes", "must index the classes array"],
    ),
    "invert resume with other settings": lambda k, t: (
        invert(k, "--stop-after-steps", "1", "--inversion-lr", "0.05", "--out", str(k["root"] / "partial")),
        [
            "holds part of an inversion run with other settings (config.lr: 0.03 there, 0.05 now)",
            "rerun with its settings to resume it, or choose a new --out",
        ],
    ),
    # --- repro sample
    "sample NaN embedding": lambda k, t: (
        ["sample", "--embeddings", nan_embeddings(k, t), "--out", str(t / "o")],
        ["holds 1 NaN or infinite value(s)", "invert those images again"],
    ),
    "sample truncated embeddings": lambda k, t: (
        [
            "sample",
            "--embeddings",
            str(halved(k["root"] / "emb" / "step00002.safetensors", t / "step2.safetensors")),
            "--out",
            str(t / "o"),
        ],
        ["embeddings file", "step2.safetensors is damaged", "invert again into a new --out"],
    ),
    "sample embeddings missing": lambda k, t: (
        ["sample", "--embeddings", str(t / "none"), "--out", str(t / "o")],
        ["embeddings path", "does not exist", "output folder of `repro invert`"],
    ),
    "sample interpolation above 1": lambda k, t: (
        sample(k, "--interpolation", "1.5", "--out", str(t / "o")),
        ["argument --interpolation: 1.5 is out of range", "<= 1"],
    ),
    "sample negative guidance": lambda k, t: (
        sample(k, "--guidance", "2,-1", "--out", str(t / "o")),
        ["argument --guidance: -1 is out of range", ">= 0"],
    ),
    "sample limit beyond the data": lambda k, t: (
        sample(k, "--limit", "1000", "--out", str(t / "o")),
        ["--limit 1000", "12 embeddings", "give --limit 12 or fewer"],
    ),
    "sample out is a file": lambda k, t: (sample(k, "--out", str(k["file"])), ["must be a folder, but it is a file"]),
    "sample resume with other settings": lambda k, t: (
        sample(k, "--seed", "1", "--out", str(k["root"] / "syn")),
        [
            "holds part of a synthetic dataset made with other settings (config.seed: 0 there, 1 now)",
            "rerun with its settings to finish it",
        ],
    ),
    # --- repro train
    "train lr below zero": lambda k, t: (
        train(k, "--lr", "-0.1", "--out", str(t / "o")),
        ["argument --lr: -0.1 is out of range", "give a number > 0"],
    ),
    "train momentum 1.5": lambda k, t: (
        train(k, "--momentum", "1.5", "--out", str(t / "o")),
        ["argument --momentum: 1.5 is out of range", "< 1"],
    ),
    "train empty checkpoint": lambda k, t: (
        ["train", "--eval-checkpoint", damaged(t / "empty.pt"), "--test", k["digits"], "--out", str(t / "o")],
        [
            "classifier checkpoint",
            "empty.pt is damaged or not such a file (it is empty or cut short)",
            "save it again with `repro train --save`",
        ],
    ),
    "train NaN teacher": lambda k, t: (
        train(k, "--teacher", nan_classifier(t), "--out", str(t / "o")),
        ["nan.pt (tensor", "holds 1 NaN or infinite value(s)", "use another checkpoint"],
    ),
    "train damaged results": lambda k, t: (
        train(k, "--out", str(Path(damaged(t / "o" / "results.csv", b'experiment,seed\n"cut')).parent)),
        ["results file", "results.csv is damaged", "delete it to train every seed again"],
    ),
    "train unknown device": lambda k, t: (
        train(k, "--device", "gpu", "--out", str(t / "o")),
        ["argument --device: 'gpu' is not a device", "give auto, cpu, cuda"],
    ),
    "train out is a file": lambda k, t: (train(k, "--out", str(k["file"])), ["must be a folder, but it is a file"]),
    "train holdout of a whole class": lambda k, t: (
        train(k, "--holdout-per-class", "100", "--out", str(t / "o")),
        ["--holdout-per-class 100 leaves no training image", "smallest class has 4", "give at most 3"],
    ),
    "train damaged synthetic index": lambda k, t: (
        synthetic_train(k, copied_synthetic(k, t, "index"), t / "o"),
        ["synthetic dataset index", "index.json is damaged", "rerun the command that wrote the dataset"],
    ),
    "train damaged synthetic shard": lambda k, t: (
        synthetic_train(k, copied_synthetic(k, t, "shard"), t / "o"),
        ["synthetic shard", "shard00000.npz is damaged", "delete it and rerun the command that wrote the dataset"],
    ),
    # --- repro metrics
    "metrics out is a folder": lambda k, t: (metrics(k, "--out", str(t)), ["is a folder; give a file name inside it"]),
    "metrics out inside a file": lambda k, t: (
        metrics(k, "--out", str(k["file"] / "m.csv")),
        [f"its folder {k['file']} is a file", "choose another --out"],
    ),
    "metrics pr-k 0": lambda k, t: (
        metrics(k, "--pr-k", "0", "--out", str(t / "m.csv")),
        ["argument --pr-k: 0 is out of range", ">= 1"],
    ),
    "metrics damaged npz": lambda k, t: (
        metrics(k, "--out", str(t / "m.csv"), fake=damaged(t / "fake.npz", b"PK\x03")),
        ["image array file", "fake.npz is damaged", "numpy.savez"],
    ),
    "metrics empty feature checkpoint": lambda k, t: (
        metrics(k, "--out", str(t / "m.csv"), features=f"clf:{damaged(t / 'e.pt')}"),
        ["classifier checkpoint", "e.pt is damaged", "save it again"],
    ),
    # --- repro ddis
    "ddis stop share 1.5": lambda k, t: (
        [
            "ddis",
            "token",
            "--teacher",
            k["clf"],
            "--classes",
            "a,b",
            "--cat-stop-accuracy",
            "1.5",
            "--out",
            str(t / "t"),
        ],
        ["argument --cat-stop-accuracy: 1.5 is out of range", "<= 1"],
    ),
    "ddis damaged tokens": lambda k, t: (
        [
            "ddis",
            "sample",
            "--mode",
            "cat",
            "--classes",
            "zero,one",
            "--tokens",
            damaged(t / "t.safetensors", b"\x08"),
            "--images-per-class",
            "1",
            "--generator",
            k["generator"],
            "--out",
            str(t / "o"),
        ],
        ["class-token file", "t.safetensors is damaged", "learn the tokens again with `repro ddis token`"],
    ),
    "ddis NaN tokens": lambda k, t: (
        [
            "ddis",
            "sample",
            "--mode",
            "cat",
            "--classes",
            "zero,one",
            "--tokens",
            nan_tokens(t),
            "--images-per-class",
            "1",
            "--generator",
            k["generator"],
            "--out",
            str(t / "o"),
        ],
        ["holds 1 NaN or infinite value(s)", "learn the tokens again"],
    ),
    "ddis tokens out is a folder": lambda k, t: (
        ["ddis", "token", "--teacher", k["clf"], "--classes", "a,b", "--out", str(t)],
        ["is a folder; give a file name inside it"],
    ),
    "deepinversion zero per class": lambda k, t: (
        [
            "ddis",
            "deepinversion",
            "--teacher",
            k["clf"],
            "--classes",
            "a,b",
            "--images-per-class",
            "0",
            "--out",
            str(t / "o"),
        ],
        ["argument --images-per-class: 0 is out of range", ">= 1"],
    ),
    # --- repro pretrain, repro run and repro data
    "pretrain zero steps": lambda k, t: (
        ["pretrain", "vae", "--steps", "0", "--work", str(t / "w")],
        ["argument --steps: 0 is out of range", ">= 1"],
    ),
    "pretrain caption balance above one": lambda k, t: (
        ["pretrain", "unet", "--caption-balance", "2", "--work", str(t / "w")],
        ["argument --caption-balance: 2 is out of range", ">= 0 and <= 1"],
    ),
    "pretrain work is a file": lambda k, t: (
        ["pretrain", "vae", "--scale", "smoke", "--work", str(k["file"])],
        ["--work", "must be a folder, but it is a file"],
    ),
    "run seeds not numbers": lambda k, t: (
        ["run", "di_fig6_real_scaling", "--seeds", "0,one"],
        ["argument --seeds: 'one' is not a whole number", "give one >= 0"],
    ),
    "data export into a full folder": lambda k, t: (
        ["data", "export", f"{k['digits']}:all", "--out", k["digits"]],
        ["is not empty", "export into a new folder"],
    ),
    "report screenshot not an image file": lambda k, t: (
        ["report", "--scale", "smoke", "--out", str(t / "pages"), "--screenshot", str(t / "shot")],
        ["--screenshot", "name a .png (or .jpg) file"],
    ),
    "data export of no split": lambda k, t: (
        ["data", "export", k["digits"], "--out", str(t / "x")],
        ["names no split", "give DATASET:SPLIT"],
    ),
}


def refusal(argv: list[str], capsys) -> str:
    """The one error line of a command that must exit with status 2 and no traceback."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's refusals
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.rstrip("\n").splitlines()
    assert ": error: " in lines[-1] and sum(": error: " in line for line in lines) == 1, err
    return lines[-1]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line_naming_the_thing_and_the_fix(case, kit, tmp_path, capsys):
    argv, fragments = CASES[case](kit, tmp_path)
    line = refusal(argv, capsys)
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"


@pytest.mark.parametrize("command", ["train", "metrics"])
def test_an_output_folder_that_cannot_be_written_is_refused_before_the_work(
    command, kit, tmp_path, capsys, monkeypatch
):
    """Root may write anywhere, so the refusal of the write test (a read-only disk, no permission) is simulated."""
    write_bytes = Path.write_bytes

    def refused(path, data):
        if path.name.startswith(".write-test"):
            raise PermissionError(13, "Permission denied", str(path))
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", refused)
    out = str(tmp_path / "out" / "m.csv") if command == "metrics" else str(tmp_path / "out")
    line = refusal({"train": train, "metrics": metrics}[command](kit, "--out", out), capsys)
    assert f"--out {tmp_path / 'out'} cannot be written (Permission denied)" in line
    assert "choose a folder you can write to" in line


def test_the_console_command_exits_2_without_a_traceback_and_the_corrected_rerun_works(kit, tmp_path):
    """What a user types: `repro invert --inversion-lr -0.1`, then the same command with a valid value into the same
    --out."""
    import subprocess
    import sys

    from tests.conftest import REPO

    command = [sys.executable, "-m", "repro.cli", *invert(kit, "--out", str(tmp_path / "emb"))]
    bad = subprocess.run([*command, "--inversion-lr", "-0.1"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[-1] == (
        "repro invert: error: argument --inversion-lr: -0.1 is out of range: give a number > 0"
    )
    good = subprocess.run([*command, "--inversion-lr", "0.1"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert good.returncode == 0, good.stderr[-2000:]
