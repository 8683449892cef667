"""The mini world's splits, exactly as DESIGN.md states them, on small archives laid out like the real ones;
the pool's disjointness; the decode cache; and ``repro data list | prepare | verify``.

The archives have just enough images for the real rules to leave something over: 1002 CIFAR-10 train images
per class (target = the first 1000), 302 ImageNette train images per class (target = the first 300), and 5
PACS images per class and domain (80/20: 4 train, 1 test). Each image is a flat colour whose green and blue
channels encode its position in sorted file-name order, so the tests can check which images a split took.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from repro.cli import main as repro_main
from repro.data import MINI_WORLD_SPLITS, POOL_CLASSES, load_split, registry, resize, sources
from repro.data import cache as cache_module
from repro.errors import ReproError
from tests.test_data_sources import flat, pacs_members, write_zip

CIFAR_TRAIN, CIFAR_TEST, NETTE_TRAIN, NETTE_VAL, PACS_PER_CLASS = 1002, 3, 302, 2, 5


def position_colour(cls: int, position: int) -> tuple[int, int, int]:
    return 20 * cls + 5, 4 * (position % 60) + 8, 4 * (position // 60) + 8  # JPEG keeps flat colours to +-1


def decoded_positions(images: np.ndarray) -> np.ndarray:
    centre = images[:, images.shape[1] // 2, images.shape[2] // 2].astype(int)
    return np.round((centre[:, 1] - 8) / 4).astype(int) + 60 * np.round((centre[:, 2] - 8) / 4).astype(int)


def tree(prefix: str, classes, names_per_class, size: int) -> dict[str, bytes]:
    members = {}
    for k, cls in enumerate(classes):
        for position, name in enumerate(sorted(names_per_class)):
            members[f"{prefix}/{cls}/{name}"] = flat(size, position_colour(k, position))
    return members


@dataclass
class World:
    data: Path
    cache: Path
    checksums: dict[str, str]


@pytest.fixture(scope="session")
def world_files(tmp_path_factory) -> World:
    data = tmp_path_factory.mktemp("data")
    rng = random.Random(0)
    nette_names = [
        f"{'ILSVRC2012_val' if rng.random() < 0.3 else 'n0000'}_{rng.randrange(10**8):08d}.jpg"
        for _ in range(NETTE_TRAIN + NETTE_VAL)
    ]
    archives = {
        "cifar10-train-jpeg.zip": tree(
            "cifar10/train", registry.CIFAR10_CLASSES, [f"{i:04d}.jpg" for i in range(CIFAR_TRAIN)], 32
        ),
        "cifar10-test-jpeg.zip": tree(
            "cifar10/test", registry.CIFAR10_CLASSES, [f"{i:04d}.jpg" for i in range(CIFAR_TEST)], 32
        ),
        "imagenette-64.zip": {
            **tree("imagenette/train", registry.IMAGENETTE_NAMES, nette_names[:NETTE_TRAIN], 64),
            **tree("imagenette/val", registry.IMAGENETTE_NAMES, nette_names[NETTE_TRAIN:], 64),
        },
        "pacs-64.zip": pacs_members(PACS_PER_CLASS),
    }
    checksums = {name: sources.file_sha256(write_zip(data / name, members)) for name, members in archives.items()}
    return World(data, tmp_path_factory.mktemp("cache"), checksums)


@pytest.fixture
def world(world_files, monkeypatch) -> World:
    """The session's archives as the known ones, their (shared) cache, downloads off."""
    for name, digest in world_files.checksums.items():
        monkeypatch.setitem(sources.KNOWN_ARCHIVES, name, digest)
    monkeypatch.setenv("REPRO_CACHE", str(world_files.cache))
    monkeypatch.setenv("REPRO_DATA", str(world_files.data))
    monkeypatch.setenv("REPRO_OFFLINE", "1")
    return world_files


def test_official_splits(world):
    train = load_split("cifar10", "train")
    assert train.images.shape == (10 * CIFAR_TRAIN, 32, 32, 3) and train.classes == list(registry.CIFAR10_CLASSES)
    assert train.ids[0] == "cifar10/train/airplane/0000.jpg" and train.ids[-1] == "cifar10/train/truck/1001.jpg"
    assert np.array_equal(decoded_positions(train.images), np.tile(np.arange(CIFAR_TRAIN), 10))
    test = load_split("imagenette", "test")
    assert test.name == "imagenette/test" and len(test) == 10 * NETTE_VAL
    assert test.ids == load_split("imagenette", "val").ids
    assert test.classes[1] == "English springer" and test.classes == list(registry.IMAGENETTE_NAMES.values())


def test_targets_are_the_first_n_of_each_class_in_file_name_order(world):
    target = load_split("cifar10", "target")
    assert target.name == "cifar10/target" and len(target) == 10 * 1000
    assert np.all(target.class_counts() == 1000)
    assert np.array_equal(decoded_positions(target.images), np.tile(np.arange(1000), 10))
    assert {i.rsplit("/", 1)[1] for i in target.ids} == {f"{i:04d}.jpg" for i in range(1000)}

    nette_train = load_split("imagenette", "train")
    nette_target = load_split("imagenette", "target")
    assert np.all(nette_target.class_counts() == 300)
    for c in range(10):
        names = [i.rsplit("/", 1)[1] for i, label in zip(nette_train.ids, nette_train.labels) if label == c]
        assert names == sorted(names)  # sorted file-name order, whatever the zip's order
        chosen = [i.rsplit("/", 1)[1] for i, label in zip(nette_target.ids, nette_target.labels) if label == c]
        assert chosen == names[:300]


def test_pacs_domains_split_80_20_by_file_order(world):
    for domain in registry.PACS_DOMAINS:
        everything = load_split(f"pacs_{domain}", "all")
        train, test = load_split(f"pacs_{domain}", "train"), load_split(f"pacs_{domain}", "test")
        assert np.all(train.class_counts() == 4) and np.all(test.class_counts() == 1)
        assert sorted(train.ids + test.ids) == sorted(everything.ids)
        assert all(i.endswith("pic_004.jpg") for i in test.ids)  # the last file of each class


def test_pool_composition_captions_and_labels(world):
    pool = load_split("pool", "train")
    pacs_each = 7 * PACS_PER_CLASS
    assert len(pool) == 10 * 2 + 10 * 2 + 3 * pacs_each
    assert pool.images.shape[1:] == (64, 64, 3)
    assert pool.classes == list(POOL_CLASSES) and len(POOL_CLASSES) == 25
    assert POOL_CLASSES[:10] == registry.CIFAR10_CLASSES and POOL_CLASSES[20:] == (
        "elephant",
        "giraffe",
        "guitar",
        "house",
        "person",
    )
    expected_domains = (
        ["cifar10"] * 20
        + ["imagenette"] * 20
        + [f"pacs_{d}" for d in ("photo", "art_painting", "cartoon") for _ in range(pacs_each)]
    )
    assert pool.domains == expected_domains
    templates = {
        "cifar10": "a photo of a {}",
        "imagenette": "a photo of a {}",
        "pacs_photo": "a photo of a {}",
        "pacs_art_painting": "an art painting of a {}",
        "pacs_cartoon": "a cartoon of a {}",
    }
    for caption, domain, label in zip(pool.captions, pool.domains, pool.labels):
        assert caption == templates[domain].format(pool.classes[label])
    assert "a photo of a English springer" in pool.captions
    assert "an art painting of a dog" in pool.captions and "a cartoon of a person" in pool.captions
    # PACS's dog shares CIFAR-10's label; CIFAR-10 images are upsampled with the one bicubic resize
    assert {pool.labels[i] for i, c in enumerate(pool.captions) if c.endswith(" dog")} == {5}
    rest = load_split("cifar10", "rest")
    assert pool.ids[:20] == rest.ids
    np.testing.assert_array_equal(pool.images[:20], resize(rest.images, 64))


def test_pool_is_disjoint_from_every_target_and_test_split(world):
    pool = set(load_split("pool", "train").ids)
    for dataset, split in MINI_WORLD_SPLITS:
        if dataset != "pool":
            assert pool.isdisjoint(load_split(dataset, split).ids), f"pool overlaps {dataset}/{split}"
    # and nothing of the two training sets is lost: target + pool part = train
    for dataset in ("cifar10", "imagenette"):
        train = load_split(dataset, "train").ids
        assert sorted(load_split(dataset, "target").ids + [i for i in pool if i.startswith(dataset)]) == sorted(train)


def test_cache_is_reused_then_invalidated_by_a_changed_archive(world, monkeypatch, tmp_path):
    load_split("pacs", "sketch")  # decoded (or already cached)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(sources, "decode_tree", no_decoding)
    assert len(load_split("pacs", "sketch")) == 7 * PACS_PER_CLASS

    changed = tmp_path / "data"
    changed.mkdir()
    members = pacs_members(PACS_PER_CLASS)
    members["pacs/sketch/dog/pic_999.jpg"] = flat(64, (1, 2, 3))
    path = write_zip(changed / "pacs-64.zip", members)
    monkeypatch.setitem(sources.KNOWN_ARCHIVES, "pacs-64.zip", sources.file_sha256(path))
    with pytest.raises(AssertionError, match="decoded again"):
        load_split("pacs", "sketch", root=changed)


def test_interrupted_prepare_leaves_nothing_half_written(world, monkeypatch, tmp_path):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path / "cache"))
    real_savez = np.savez

    def interrupted(handle, **arrays):
        handle.write(b"PK\x03\x04 a partial file")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_split("pacs", "photo")
    assert list((tmp_path / "cache" / "arrays").iterdir()) == []
    monkeypatch.setattr(cache_module.np, "savez", real_savez)
    assert len(load_split("pacs", "photo")) == 7 * PACS_PER_CLASS
    assert [p.suffix for p in (tmp_path / "cache" / "arrays").iterdir()] == [".npz"]


def test_subsets_of_a_real_split_are_deterministic(world):
    target = load_split("cifar10", "target")
    small, again = target.per_class(10, seed=3), target.per_class(10, seed=3)
    assert small.ids == again.ids and np.all(small.class_counts() == 10)
    assert set(small.ids) <= set(target.per_class(50, seed=3).ids)
    assert small.ids != target.per_class(10, seed=4).ids


# ----------------------------------------------------------------------------------------------------- CLI


def test_cli_list_and_prepare(world, capsys):
    assert repro_main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert f"-> {world.data / 'pacs-64.zip'}" in out and "cifar100" in out and "not present" in out
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in out
    assert repro_main(["data", "prepare", "pacs_sketch", "imagenette/target"]) == 0
    out = capsys.readouterr().out
    assert "pacs_sketch/train: 28 images at 64 px, 7 classes" in out
    assert "imagenette/target: 3000 images at 64 px, 10 classes" in out
    assert "pacs_sketch/all" in out and "imagenette/train" not in out


def test_cli_verify_prints_counts_and_flags_mismatches(world, capsys, monkeypatch):
    code = repro_main(["data", "verify", "--root", str(world.data), "cifar10", "pacs", "pool"])
    out = capsys.readouterr().out
    assert code == 1  # the small archives do not have the real counts
    assert "cifar10-train-jpeg.zip     sha256 ok" in out
    assert f"train           {10 * CIFAR_TRAIN:,} images  MISMATCH (expected 50,000)" in out
    assert "target          10,000 images  ok" in out
    assert "airplane 1002 · automobile 1002" in out
    assert "pool vs cifar10/target: disjoint" in out and "pool vs pacs_sketch/test: disjoint" in out
    monkeypatch.setitem(sources.KNOWN_ARCHIVES, "pacs-64.zip", "f" * 64)
    assert repro_main(["data", "verify", "pacs_sketch"]) == 1
    out = capsys.readouterr().out
    assert "pacs-64.zip                sha256 MISMATCH" in out and "ERROR: " in out


def test_cli_unknown_name(world, capsys):
    assert repro_main(["data", "prepare", "imagenet1k"]) == 2
    assert "unknown dataset 'imagenet1k'" in capsys.readouterr().err
    with pytest.raises(ReproError, match="no split 'nope'"):
        registry.dataset_spec("cifar10").split("nope")
