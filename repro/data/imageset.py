"""``ImageSet``: decoded images with labels, class names and stable ids, and the seeded subsets of experiments.

Subsets are drawn per class from one seeded permutation of that class (the stream depends on the seed and
the class index only), and keep the set's order. So they are deterministic, and for one seed the subsets
grow by adding images: ``per_class(10, s)`` is contained in ``per_class(100, s)``, which keeps the points of a
scaling curve comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ReproError


@dataclass
class ImageSet:
    """uint8 images ``[N, H, W, 3]`` with int64 ``labels`` indexing ``classes`` and one id per image."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    ids: list[str]
    name: str
    #: one caption per image (the pool only)
    captions: list[str] | None = None
    #: the part of the pool each image comes from, e.g. ``cifar10`` or ``pacs_cartoon`` (the pool only)
    domains: list[str] | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.classes = list(self.classes)
        self.ids = list(self.ids)
        n = len(self.images)
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(
                f"{self.name}: images must be uint8 [N, H, W, 3], got {self.images.dtype} {self.images.shape}"
            )
        for field in ("labels", "ids", "captions", "domains"):
            value = getattr(self, field)
            if value is not None and len(value) != n:
                raise ValueError(f"{self.name}: {n} images but {len(value)} {field}")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(f"{self.name}: labels outside 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[1])

    def class_counts(self) -> np.ndarray:
        """Images per class, in ``classes`` order."""
        return np.bincount(self.labels, minlength=len(self.classes))

    def subset(self, indices, name: str | None = None) -> ImageSet:
        """The images at ``indices`` (in that order), with their labels, ids, captions and domains."""
        index = np.asarray(indices, dtype=np.int64).reshape(-1)
        pick = lambda values: None if values is None else [values[i] for i in index]  # noqa: E731
        return ImageSet(
            self.images[index],
            self.labels[index],
            self.classes,
            pick(self.ids),
            name or self.name,
            pick(self.captions),
            pick(self.domains),
        )

    def select_ids(self, ids, name: str | None = None) -> ImageSet:
        """The images with these ids, in this set's order; an id not in the set is an error."""
        wanted = set(map(str, ids))
        index = [i for i, image_id in enumerate(self.ids) if image_id in wanted]
        if len(index) != len(wanted):
            missing = sorted(wanted - set(self.ids))
            raise ReproError(f"{self.name}: {len(missing)} of the ids asked for are not in it, e.g. {missing[:3]}")
        return self.subset(index, name)

    def without(self, ids, name: str | None = None) -> ImageSet:
        """This set minus the images with these ids (in order)."""
        drop = set(map(str, ids))
        return self.subset([i for i, image_id in enumerate(self.ids) if image_id not in drop], name)

    def per_class(self, n: int, seed: int) -> ImageSet:
        """Up to ``n`` random images of each class (all of a class that has fewer)."""
        _check_count(n, "n")
        orders = self._class_orders(seed)
        return self._take(orders, [min(n, len(o)) for o in orders], f"per_class={n}:seed={seed}")

    def kshot(self, k: int, seed: int) -> ImageSet:
        """Exactly ``k`` random images of each class; a class with fewer is an error."""
        _check_count(k, "k")
        counts = self.class_counts()
        short = [f"{self.classes[c]} ({counts[c]})" for c in range(len(self.classes)) if counts[c] < k]
        if short:
            raise ReproError(
                f"{self.name}: a {k}-shot subset needs {k} images per class, but these classes have "
                f"fewer: {', '.join(short)}; choose k <= {counts.min()}"
            )
        return self._take(self._class_orders(seed), [k] * len(self.classes), f"kshot={k}:seed={seed}")

    def total(self, n: int, seed: int) -> ImageSet:
        """``n`` random images in all, stratified: each class gets its share of ``n`` (largest remainder)."""
        _check_count(n, "n")
        if n > len(self):
            raise ReproError(f"{self.name} has {len(self)} images, fewer than the {n} asked for")
        return self._take(self._class_orders(seed), stratified_quotas(self.class_counts(), n), f"total={n}:seed={seed}")

    def _class_orders(self, seed: int) -> list[np.ndarray]:
        orders = []
        for c in range(len(self.classes)):
            members = np.flatnonzero(self.labels == c)
            orders.append(members[np.random.default_rng([int(seed), c]).permutation(len(members))])
        return orders

    def _take(self, orders: list[np.ndarray], quotas, tag: str) -> ImageSet:
        chosen = np.sort(np.concatenate([o[:q] for o, q in zip(orders, quotas)] + [np.zeros(0, np.int64)]))
        return self.subset(chosen, f"{self.name}:{tag}")


def requested(images: ImageSet, per_class: int | None = None, seed: int = 0, limit: int | None = None) -> ImageSet:
    """The set reduced as a command's ``--per-class`` (seeded) and ``--limit`` (the first N) ask; asking for more
    images than the set holds is an error that says how many it has."""
    if per_class is not None:
        largest = int(images.class_counts().max())
        if per_class > largest:
            raise ReproError(
                f"--per-class {per_class} asks for more than {images.name} holds: its largest class "
                f"has {largest} images; give --per-class {largest} or fewer"
            )
        images = images.per_class(per_class, seed=seed)
    if limit is not None:
        if limit > len(images):
            raise ReproError(
                f"--limit {limit} asks for more than the {len(images)} images of {images.name}; give "
                f"--limit {len(images)} or fewer"
            )
        images = images.subset(list(range(limit)))
    return images


def stratified_quotas(counts: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` over classes in proportion to ``counts`` (floors, then the largest remainders, ties to the
    lower class index), so quotas sum to ``n`` and never exceed a class's count."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    exact = counts * n
    quotas = exact // total
    remainders = exact % total
    extra = n - int(quotas.sum())
    quotas[np.argsort(-remainders, kind="stable")[:extra]] += 1
    return quotas


def _check_count(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ReproError(f"subset size {what}={value!r} must be a positive whole number")
