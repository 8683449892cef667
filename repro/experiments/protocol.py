"""The image sets of the Diffusion Inversion protocol, chosen the same way by every notebook and asset.

- The **training set** of a dataset is its training split (the mini world's ``target`` split at ``smoke`` and
  ``mini`` where one exists, else ``train``), reduced to ``per_class`` images of each class by the seeded
  subset ``ImageSet.per_class(n, seed=0)``; ``repro invert --per-class n`` inverts exactly these images.
- Smaller real sets (Figure 6, few-shot) are seeded subsets of the training set, nested for one seed.
- The **test set** is the dataset's test split (``test_per_class`` seeded images of each class, or all).
- A synthetic subset keeps the variants of chosen source images (by id) and the first ``k`` variants of each,
  so "k times the real set" is a prefix of one sampled set.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..classifiers.mixing import Pool
from ..data import ImageSet, dataset_spec, load_split, resize
from ..errors import ReproError
from ..sampling.dataset import SyntheticArrays, SyntheticDataset
from .assets import per_dataset

#: the seed of the subset that makes a scale's training set (the inversion assets use the same)
TRAINING_SUBSET_SEED = 0


def training_split(dataset: str, scale: str) -> str:
    """The split real training images come from: the mini world's target split offline, else ``train``."""
    splits = dataset_spec(dataset).splits
    return "target" if scale in ("smoke", "mini") and "target" in splits else "train"


def _some_per_class(images: ImageSet, per_class, seed: int) -> ImageSet:
    return images if per_class in (None, "all") else images.per_class(int(per_class), seed=seed)


def training_set(dataset: str, per_class, scale: str, data_root: str | None = None) -> ImageSet:
    """The real training images of ``dataset`` at ``scale`` (``per_class`` may be a per-dataset mapping)."""
    split = load_split(dataset, training_split(dataset, scale), root=data_root or None)
    return _some_per_class(split, per_dataset(per_class, dataset), TRAINING_SUBSET_SEED)


def test_set(dataset: str, test_per_class="all", data_root: str | None = None) -> ImageSet:
    """The real test images of ``dataset`` (a seeded ``test_per_class`` per class, or all)."""
    return _some_per_class(load_split(dataset, "test", root=data_root or None), test_per_class, TRAINING_SUBSET_SEED)


def shared_sets(run, dataset: str) -> tuple[ImageSet, ImageSet, "Synthetic"]:
    """The training set, the test set and the default synthetic set of ``dataset`` for an experiment's run: its
    ``per_class`` and ``test_per_class`` params, and the shared ``inversion_<dataset>`` and
    ``synthetic_<dataset>`` assets, each checked against the run's params."""
    params = run.params
    train = training_set(dataset, params.get("per_class", "all"), run.scale, run.data_root)
    test = test_set(dataset, params.get("test_per_class", "all"), run.data_root)
    run.assets.checked(f"inversion_{dataset}", params)
    return train, test, Synthetic(run.assets.checked(f"synthetic_{dataset}", params))


def real_subset(train: ImageSet, fraction: float, seed: int) -> ImageSet:
    """``fraction`` of each class of the training set (at least one image), seeded and nested for one seed."""
    per_class = max(1, int(round(fraction * train.class_counts().max())))
    return train.per_class(per_class, seed=seed)


class Synthetic:
    """One synthetic dataset in memory, with its per-image provenance, ready to be cut into subsets."""

    def __init__(self, folder, name: str | None = None):
        self.dataset = SyntheticDataset(folder)
        self.arrays: SyntheticArrays = self.dataset.load()
        self.name = name or self.dataset.path.name
        self.classes = self.dataset.classes

    @property
    def config(self) -> dict:
        return dict(self.dataset.index["config"])

    def __len__(self) -> int:
        return len(self.arrays.labels)

    def subset(self, source_ids: Iterable[str] | None = None, variants: int | None = None,
               resolution: int | None = None) -> Pool:
        """The variants of the images ``source_ids`` (all when None), the first ``variants`` of each; resized
        (bicubic) to ``resolution`` when given."""
        keep = np.ones(len(self), dtype=bool)
        if source_ids is not None:
            wanted = set(map(str, source_ids))
            have = set(map(str, self.arrays.provenance["source_id"]))
            if not wanted <= have:
                missing = sorted(wanted - have)
                raise ReproError(f"synthetic set {self.name} has no variants of {len(missing)} of the images asked "
                                 f"for (e.g. {missing[:3]}); its inversion must cover the experiment's training set")
            keep &= np.isin(self.arrays.provenance["source_id"].astype(str), list(wanted))
        if variants is not None:
            have = int(self.arrays.provenance["variant"].max()) + 1 if len(self) else 0
            if variants > have:
                raise ReproError(f"synthetic set {self.name} has {have} variants per image, fewer than {variants}")
            keep &= self.arrays.provenance["variant"] < variants
        images = self.arrays.images[keep]
        if resolution is not None and images.shape[1] != resolution:
            images = resize(images, resolution)
        tag = f"{self.name}[{'all' if source_ids is None else 'subset'}, {variants or 'all'} per image]"
        return Pool(images, self.arrays.labels[keep], list(self.classes), name=tag)
