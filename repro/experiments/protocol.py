"""The image sets of the Diffusion Inversion protocol, chosen the same way by every notebook and asset.

- The **training set** of a dataset is its training split (the mini world's ``target`` split at ``smoke`` and
  ``mini`` where one exists, else ``train``), reduced to ``per_class`` images of each class by the seeded
  subset ``ImageSet.per_class(n, seed=0)``; ``repro invert --per-class n`` inverts exactly these images.
- Smaller real sets (Figure 6, few-shot) are seeded subsets of the training set, nested for one seed. Their
  Diffusion Inversion arm learns and plans from their images alone (:func:`variants_of`): no embedding of an
  image outside the subset can reach it, as an interpolation partner or through the mean unconditional input.
- The **test set** is the dataset's test split (``test_per_class`` seeded images of each class, or all).
- A best-of-K choice (a mixing ratio, a filter threshold, a sampling strength) is made on a **validation split**
  carved from the training set (:func:`validation_split`), never on the test set.
- The default synthetic set of a seed is sampled with that seed (:class:`SharedSynthetic`): seeds resample the
  data, not only the classifier. A synthetic subset keeps the variants of chosen source images (by id) and the
  first ``k`` variants of each, so "k times the real set" is a prefix of one sampled set.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..classifiers.mixing import Pool
from ..data import ImageSet, dataset_spec, load_split, resize
from ..errors import ReproError
from ..provenance import phase
from ..sampling.dataset import SyntheticArrays, SyntheticDataset
from .assets import per_dataset

#: the seed of the subset that makes a scale's training set (the inversion assets use the same)
TRAINING_SUBSET_SEED = 0
#: the seed of the validation split (one split for every seed: they choose on the same images)
VALIDATION_SEED = 0


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


@phase("data")  # the jobs table's row of a notebook: reading its real sets, apart from the unexplained rest
def shared_sets(run, dataset: str) -> tuple[ImageSet, ImageSet, SharedSynthetic]:
    """The training set, the test set and the default synthetic sets of ``dataset`` for an experiment's run: its
    ``per_class`` and ``test_per_class`` params, and the shared ``inversion_<dataset>`` and (per seed)
    ``synthetic_<dataset>`` assets, each checked against the run's params."""
    params = run.params
    train = training_set(dataset, params.get("per_class", "all"), run.scale, run.data_root)
    test = test_set(dataset, params.get("test_per_class", "all"), run.data_root)
    run.assets.checked(f"inversion_{dataset}", params)
    return train, test, SharedSynthetic(run, dataset)


class SharedSynthetic:
    """The default synthetic sets of one dataset by seed: ``shared(seed)`` is the asset sampled with that seed
    from the shared embeddings (checked against the run's params, loaded once)."""

    def __init__(self, run, dataset: str):
        self.run, self.dataset = run, dataset
        self.loaded: dict[int, Synthetic] = {}

    def __call__(self, seed: int) -> Synthetic:
        if seed not in self.loaded:
            self.loaded[seed] = Synthetic(self.run.assets.for_seed(f"synthetic_{self.dataset}", self.run.params, seed))
        return self.loaded[seed]


def variants_of(run, dataset: str, ids: Iterable[str], seed: int) -> Synthetic:
    """The Diffusion Inversion variants of exactly the images ``ids``, learned and planned from them alone: the
    shared inversion's embeddings of these images (partners and the mean unconditional input come from them),
    sampled with the run's sampling params and sampling seed ``seed`` into a scratch folder (resumed). When the
    images are every inverted one, that sample is the seed's shared synthetic set, which is returned."""
    from ..inversion.store import stored_ids
    from .sweeps import expand, sample

    inversion = run.assets.checked(f"inversion_{dataset}", run.params)
    wanted = sorted(set(map(str, ids)))
    if set(wanted) == stored_ids([inversion]):
        return SharedSynthetic(run, dataset)(seed)
    (setting,) = expand({**run.params, "sweep": None}, dataset)
    return sample(run, inversion, setting, ids=wanted, prefix=f"variants-{dataset}-{len(wanted)}images", seed=seed)


def validation_split(train: ImageSet, fraction: float) -> tuple[ImageSet, ImageSet]:
    """(fit, validation): ``fraction`` of the smallest class's count held out of every class of ``train`` (at
    least one image, seeded) to make best-of-K choices on, and the rest to train on."""
    if not 0 < fraction < 1:
        raise ReproError(f"validation_fraction = {fraction} must lie strictly between 0 and 1")
    per_class = max(1, int(round(fraction * train.class_counts().min())))
    validation = train.per_class(per_class, seed=VALIDATION_SEED)
    fit = train.without(validation.ids, name=f"{train.name}:fit")
    empty = [train.classes[c] for c, n in enumerate(fit.class_counts()) if n == 0]
    if empty:
        raise ReproError(
            f"{train.name}: a validation split of {per_class} per class leaves no training image of "
            f"{empty}; lower validation_fraction or use more images per class"
        )
    return fit, validation


def real_subset(train: ImageSet, fraction: float, seed: int) -> ImageSet:
    """``fraction`` of each class of the training set (at least one image), seeded and nested for one seed."""
    per_class = max(1, int(round(fraction * train.class_counts().max())))
    return train.per_class(per_class, seed=seed)


class Synthetic:
    """One synthetic dataset in memory, with its per-image provenance, ready to be cut into subsets."""

    @phase("data")
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

    def subset(
        self, source_ids: Iterable[str] | None = None, variants: int | None = None, resolution: int | None = None
    ) -> Pool:
        """The variants of the images ``source_ids`` (all when None), the first ``variants`` of each; resized
        (bicubic) to ``resolution`` when given."""
        keep = np.ones(len(self), dtype=bool)
        if source_ids is not None:
            wanted = set(map(str, source_ids))
            have = set(map(str, self.arrays.provenance["source_id"]))
            if not wanted <= have:
                missing = sorted(wanted - have)
                raise ReproError(
                    f"synthetic set {self.name} has no variants of {len(missing)} of the images asked "
                    f"for (e.g. {missing[:3]}); its inversion must cover the experiment's training set"
                )
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
