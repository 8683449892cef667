"""`repro invert` then `repro sample` through the console command, on a saved tiny generator and your own data
(an .npz made in the test) (CPU)."""

from __future__ import annotations

from repro.cli import main
from repro.data import load_split
from repro.generators import save_bundle
from repro.generators.tiny import tiny_generator
from repro.inversion import load_checkpoints
from repro.sampling import SyntheticDataset

from .own_data import digit_npz


def test_invert_then_sample_from_the_command_line(tmp_path, capsys):
    generator = save_bundle(tiny_generator(resolution=16), tmp_path / "gen")
    toy = str(digit_npz(tmp_path / "toy.npz", per_class=2, size=8))
    emb = tmp_path / "emb"
    code = main(["invert", "--generator", str(generator), "--dataset", toy, "--split", "all", "--out", str(emb),
                 "--steps", "4", "--checkpoints", "2", "--batch", "3", "--tokens", "5", "--limit", "5",
                 "--resolution", "16", "--quiet"])
    assert code == 0
    tables = load_checkpoints([emb])
    assert sorted(tables) == [2, 4] and tables[4].embeddings.shape == (5, 5, 32)

    syn = tmp_path / "syn"
    code = main(["sample", "--embeddings", str(emb), "--out", str(syn), "--per-image", "2", "--guidance", "1,2",
                 "--checkpoints", "2,4", "--steps", "2", "--scheduler", "dpm++", "--uncond", "empty",
                 "--shard-size", "4", "--quiet"])
    assert code == 0
    data = SyntheticDataset(syn).load()
    assert data.images.shape == (10, 8, 8, 3) and set(data.provenance["w"].tolist()) <= {1.0, 2.0}

    code = main(["sample", "--embeddings", str(emb / "step00004.safetensors"), "--out", str(tmp_path / "bad"),
                 "--resolution", "32", "--quiet"])
    assert code == 2 and "learned at 16 px" in capsys.readouterr().err

    code = main(["invert", "--generator", str(generator), "--dataset", toy, "--split", "all", "--out", str(emb),
                 "--steps", "4", "--checkpoints", "2", "--batch", "3", "--tokens", "6", "--limit", "5",
                 "--resolution", "16", "--quiet"])
    assert code == 2 and "other settings (config.tokens: 5 there, 6 now)" in capsys.readouterr().err


def test_per_class_inverts_the_experiments_training_subset(tmp_path):
    toy = str(digit_npz(tmp_path / "toy.npz", per_class=5, size=8, classes=2))
    generator = save_bundle(tiny_generator(resolution=16), tmp_path / "gen")
    code = main(["invert", "--generator", str(generator), "--dataset", toy, "--out", str(tmp_path / "emb"),
                 "--steps", "2", "--batch", "4", "--tokens", "2", "--resolution", "16", "--per-class", "2",
                 "--quiet"])
    assert code == 0
    (table,) = load_checkpoints([tmp_path / "emb"]).values()
    assert table.ids == load_split(toy, "train").per_class(2, seed=0).ids  # own data's default split: train
