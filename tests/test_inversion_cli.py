"""`repro invert` then `repro sample` through the console command, on a saved tiny generator and your own data
(an .npz made in the test) (CPU)."""

from __future__ import annotations

import json

from repro.cli import main
from repro.data import load_split
from repro.files import ARGUMENTS_FILE
from repro.generators import save_bundle
from repro.generators.tiny import tiny_generator
from repro.inversion import load_checkpoints
from repro.provenance import phase_seconds
from repro.sampling import SyntheticDataset

from .own_data import digit_npz


def test_invert_then_sample_from_the_command_line(tmp_path, capsys):
    generator = save_bundle(tiny_generator(resolution=16), tmp_path / "gen")
    toy = str(digit_npz(tmp_path / "toy.npz", per_class=2, size=8))
    emb = tmp_path / "emb"
    code = main(
        [
            "invert",
            "--generator",
            str(generator),
            "--dataset",
            toy,
            "--split",
            "all",
            "--out",
            str(emb),
            "--inversion-steps",
            "4",
            "--checkpoints",
            "2",
            "--batch",
            "3",
            "--tokens",
            "5",
            "--limit",
            "5",
            "--resolution",
            "16",
            "--quiet",
        ]
    )
    assert code == 0
    tables = load_checkpoints([emb])
    assert sorted(tables) == [2, 4] and tables[4].embeddings.shape == (5, 5, 32)
    # the options it ran with, by the registry's names, and the weights it ran on
    recorded = json.loads((emb / ARGUMENTS_FILE).read_text())
    assert (recorded["inversion_steps"], recorded["inversion_lr"], recorded["checkpoints"]) == (4, 0.03, [2])
    assert recorded["weights"] == json.loads((emb / "run.json").read_text())["weights"]
    # where its time went, for a workflow job's line (repro.workflow.jobstats)
    assert {"data", "generator", "inversion"} <= set(phase_seconds())

    syn = tmp_path / "syn"
    code = main(
        [
            "sample",
            "--embeddings",
            str(emb),
            "--out",
            str(syn),
            "--per-image",
            "2",
            "--guidance",
            "1,2",
            "--checkpoints",
            "2,4",
            "--inference-steps",
            "2",
            "--scheduler",
            "dpm++",
            "--uncond",
            "empty",
            "--interpolation",
            "0.2",
            "--shard-size",
            "4",
            "--quiet",
        ]
    )
    assert code == 0
    recorded = json.loads((syn / ARGUMENTS_FILE).read_text())
    assert (recorded["inference_steps"], recorded["interpolation"], recorded["uncond"]) == (2, [0.2], "empty")
    data = SyntheticDataset(syn).load()
    assert data.images.shape == (10, 8, 8, 3) and set(data.provenance["w"].tolist()) <= {1.0, 2.0}
    assert {"embeddings", "sampling"} <= set(phase_seconds())

    code = main(
        [
            "sample",
            "--embeddings",
            str(emb / "step00004.safetensors"),
            "--out",
            str(tmp_path / "bad"),
            "--resolution",
            "32",
            "--quiet",
        ]
    )
    assert code == 2 and "learned at 16 px" in capsys.readouterr().err

    code = main(
        [
            "invert",
            "--generator",
            str(generator),
            "--dataset",
            toy,
            "--split",
            "all",
            "--out",
            str(emb),
            "--inversion-steps",
            "4",
            "--checkpoints",
            "2",
            "--batch",
            "3",
            "--tokens",
            "6",
            "--limit",
            "5",
            "--resolution",
            "16",
            "--quiet",
        ]
    )
    assert code == 2 and "other settings (config.tokens: 5 there, 6 now)" in capsys.readouterr().err


def test_per_class_inverts_the_experiments_training_subset(tmp_path):
    toy = str(digit_npz(tmp_path / "toy.npz", per_class=5, size=8, classes=2))
    generator = save_bundle(tiny_generator(resolution=16), tmp_path / "gen")
    code = main(
        [
            "invert",
            "--generator",
            str(generator),
            "--dataset",
            toy,
            "--out",
            str(tmp_path / "emb"),
            "--inversion-steps",
            "2",
            "--batch",
            "4",
            "--tokens",
            "2",
            "--resolution",
            "16",
            "--per-class",
            "2",
            "--quiet",
        ]
    )
    assert code == 0
    (table,) = load_checkpoints([tmp_path / "emb"]).values()
    assert table.ids == load_split(toy, "train").per_class(2, seed=0).ids  # own data's default split: train
