"""`repro invert` then `repro sample` through the console command, on a saved tiny generator (CPU).

The data layer is replaced by an in-memory split that honours the `repro.data.load_split` contract.
"""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from repro.cli import main
from repro.generators import save_bundle
from repro.generators.tiny import tiny_generator
from repro.inversion import load_checkpoints
from repro.provenance import ARGUMENTS_FILE
from repro.sampling import SyntheticDataset


class FakeImageSet:
    def __init__(self, images, labels, ids, classes):
        self.images, self.labels, self.ids, self.classes = images, labels, ids, classes

    def __len__(self):
        return len(self.labels)

    def subset(self, indices):
        idx = list(indices)
        return FakeImageSet(self.images[idx], self.labels[idx], [self.ids[i] for i in idx], self.classes)


@pytest.fixture
def fake_data(monkeypatch):
    rng = np.random.default_rng(0)
    split = FakeImageSet(rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8), np.array([0, 1, 2, 0, 1, 2]),
                         [f"toy/target/{i}.png" for i in range(6)], ["cat", "dog", "owl"])
    calls = []

    def load_split(dataset, split_name, root=None):
        calls.append((dataset, split_name, root))
        return split

    monkeypatch.setitem(sys.modules, "repro.data", types.SimpleNamespace(load_split=load_split))
    return calls


def test_invert_then_sample_from_the_command_line(fake_data, tmp_path, capsys):
    generator = save_bundle(tiny_generator(resolution=16), tmp_path / "gen")
    emb = tmp_path / "emb"
    code = main(["invert", "--generator", str(generator), "--dataset", "toy", "--split", "target", "--out", str(emb),
                 "--inversion-steps", "4", "--checkpoints", "2", "--batch", "3", "--tokens", "5", "--limit", "5",
                 "--resolution", "16", "--data-root", "/nowhere", "--quiet"])
    assert code == 0 and fake_data == [("toy", "target", "/nowhere")]
    tables = load_checkpoints([emb])
    assert sorted(tables) == [2, 4] and tables[4].embeddings.shape == (5, 5, 32)
    # the options it ran with, by the registry's names, and the weights it ran on
    recorded = json.loads((emb / ARGUMENTS_FILE).read_text())
    assert (recorded["inversion_steps"], recorded["inversion_lr"], recorded["checkpoints"]) == (4, 0.03, [2])
    assert recorded["weights"] == json.loads((emb / "run.json").read_text())["weights"]

    syn = tmp_path / "syn"
    code = main(["sample", "--embeddings", str(emb), "--out", str(syn), "--per-image", "2", "--guidance", "1,2",
                 "--checkpoints", "2,4", "--inference-steps", "2", "--scheduler", "dpm++", "--uncond", "empty",
                 "--interpolation", "0.2", "--shard-size", "4", "--quiet"])
    assert code == 0
    recorded = json.loads((syn / ARGUMENTS_FILE).read_text())
    assert (recorded["inference_steps"], recorded["interpolation"], recorded["uncond"]) == (2, [0.2], "empty")
    data = SyntheticDataset(syn).load()
    assert data.images.shape == (10, 8, 8, 3) and set(data.provenance["w"].tolist()) <= {1.0, 2.0}

    code = main(["sample", "--embeddings", str(emb / "step00004.safetensors"), "--out", str(tmp_path / "bad"),
                 "--resolution", "32", "--quiet"])
    assert code == 2 and "learned at 16 px" in capsys.readouterr().err

    code = main(["invert", "--generator", str(generator), "--dataset", "toy", "--out", str(emb), "--inversion-steps",
                 "4", "--checkpoints", "2", "--batch", "3", "--tokens", "6", "--limit", "5", "--resolution", "16",
                 "--quiet"])
    assert code == 2 and "different configuration" in capsys.readouterr().err


def test_per_class_inverts_the_experiments_training_subset(tmp_path, monkeypatch):
    from repro.data import ImageSet

    rng = np.random.default_rng(1)
    split = ImageSet(rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8), np.array([0, 1, 0, 1, 0, 1]), ["cat", "dog"],
                     [f"toy/target/{i}.png" for i in range(6)], "toy/target")
    monkeypatch.setitem(sys.modules, "repro.data",
                        types.SimpleNamespace(load_split=lambda dataset, name, root=None: split))
    generator = save_bundle(tiny_generator(resolution=16), tmp_path / "gen")
    code = main(["invert", "--generator", str(generator), "--dataset", "toy", "--out", str(tmp_path / "emb"),
                 "--inversion-steps", "2", "--batch", "4", "--tokens", "2", "--resolution", "16", "--per-class", "2",
                 "--quiet"])
    assert code == 0
    (table,) = load_checkpoints([tmp_path / "emb"]).values()
    assert table.ids == split.per_class(2, seed=0).ids
