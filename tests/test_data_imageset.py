"""ImageSet: seeded subsets for the scaling experiments (per class, in total, k-shot) and ``subset``."""

from __future__ import annotations

import numpy as np
import pytest

from repro.data import ImageSet
from repro.data.imageset import stratified_quotas
from repro.errors import ReproError


def make_set(counts=(30, 20, 10, 4)) -> ImageSet:
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]  # classes interleaved, as in CIFAR's batches
    images = np.zeros((len(labels), 4, 4, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(len(labels)) % 256
    ids = [f"set/{i:03d}" for i in range(len(labels))]
    return ImageSet(
        images,
        labels,
        [f"c{c}" for c in range(len(counts))],
        ids,
        "set",
        captions=[f"caption {i}" for i in range(len(labels))],
        domains=["d"] * len(labels),
    )


def test_subset_keeps_everything_aligned():
    data = make_set()
    part = data.subset([5, 2, 9])
    assert part.ids == ["set/005", "set/002", "set/009"]
    assert part.captions == ["caption 5", "caption 2", "caption 9"] and part.domains == ["d"] * 3
    assert part.labels.tolist() == data.labels[[5, 2, 9]].tolist()
    assert part.images[:, 0, 0, 0].tolist() == [5, 2, 9] and part.classes == data.classes


def test_per_class_is_deterministic_nested_and_capped():
    data = make_set()
    five = data.per_class(5, seed=0)
    assert five.class_counts().tolist() == [5, 5, 5, 4]  # the 4-image class gives all it has
    assert five.ids == data.per_class(5, seed=0).ids
    assert five.ids != data.per_class(5, seed=1).ids
    assert set(five.ids) <= set(data.per_class(8, seed=0).ids)  # growing n only adds images
    assert five.ids == sorted(five.ids)  # the set's own order is kept
    assert five.name == "set:per_class=5:seed=0"


def test_kshot_is_exact_or_refused():
    data = make_set()
    shot = data.kshot(4, seed=2)
    assert shot.class_counts().tolist() == [4, 4, 4, 4]
    assert set(shot.ids) <= set(data.kshot(4, seed=2).ids)
    with pytest.raises(ReproError, match=r"5-shot.*c3 \(4\).*k <= 4"):
        data.kshot(5, seed=0)


def test_total_is_stratified_and_exact():
    data = make_set()
    part = data.total(32, seed=0)
    assert len(part) == 32 and part.class_counts().tolist() == [15, 10, 5, 2]
    assert part.ids == data.total(32, seed=0).ids
    assert len(data.total(3, seed=0)) == 3  # fewer than the classes: the largest shares win
    with pytest.raises(ReproError, match="has 64 images, fewer than the 65"):
        data.total(65, seed=0)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ReproError, match="positive whole number"):
            data.per_class(bad, seed=0)


def test_stratified_quotas_sum_and_bounds():
    rng = np.random.default_rng(1)
    for _ in range(200):
        counts = rng.integers(1, 50, rng.integers(1, 12))
        n = int(rng.integers(1, counts.sum() + 1))
        quotas = stratified_quotas(counts, n)
        assert quotas.sum() == n and np.all(quotas <= counts) and np.all(quotas >= 0)
        assert np.all(np.abs(quotas - counts * n / counts.sum()) < 1)


def test_malformed_sets_are_rejected():
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(np.zeros((2, 4, 4, 3), np.float32), [0, 1], ["a", "b"], ["x", "y"], "bad")
    with pytest.raises(ValueError, match="2 images but 1 ids"):
        ImageSet(np.zeros((2, 4, 4, 3), np.uint8), [0, 1], ["a", "b"], ["x"], "bad")
    with pytest.raises(ValueError, match="labels outside"):
        ImageSet(np.zeros((2, 4, 4, 3), np.uint8), [0, 2], ["a", "b"], ["x", "y"], "bad")


def test_select_ids_and_without_split_a_set_by_id():
    images = make_set((3, 2))
    chosen = images.select_ids([images.ids[4], images.ids[0]])
    assert chosen.ids == [images.ids[0], images.ids[4]]  # the set's order, not the request's
    rest = images.without(chosen.ids)
    assert sorted(rest.ids + chosen.ids) == sorted(images.ids) and not set(rest.ids) & set(chosen.ids)
    with pytest.raises(ReproError, match="not in it"):
        images.select_ids(["nope"])
