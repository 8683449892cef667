"""The real offline archives (skipped unless $REPRO_DATA names a folder that holds them)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from repro.data import load_split, registry

ROOT = Path(os.environ.get("REPRO_DATA", "")) if os.environ.get("REPRO_DATA") else None
pytestmark = pytest.mark.skipif(
    ROOT is None or not (ROOT / "pacs-64.zip").is_file() or not (ROOT / "cifar10-test-jpeg.zip").is_file(),
    reason="needs $REPRO_DATA with the offline archives (pacs-64.zip, cifar10-test-jpeg.zip)",
)


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("REPRO_CACHE", str(tmp_path))
    monkeypatch.setenv("REPRO_OFFLINE", "1")


def test_real_pacs_and_cifar10_test(fresh_cache):
    for domain, count in registry.PACS_COUNTS.items():
        images = load_split("pacs", domain, root=ROOT)
        assert len(images) == count and images.images.shape[1:] == (64, 64, 3)
    assert sum(registry.PACS_COUNTS.values()) == 9991
    sketch_train, sketch_test = (load_split("pacs_sketch", s, root=ROOT) for s in ("train", "test"))
    assert (len(sketch_train), len(sketch_test)) == registry.PACS_SPLIT_COUNTS["sketch"]
    assert set(sketch_train.ids).isdisjoint(sketch_test.ids)
    test = load_split("cifar10", "test", root=ROOT)
    assert len(test) == 10000 and np.all(test.class_counts() == 1000)
    assert test.ids[0] == "cifar10/test/airplane/0000.jpg" and test.images.shape[1:] == (32, 32, 3)
    assert 60 < test.images.mean() < 200  # real photographs, not blank decodes
