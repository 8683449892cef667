"""The kinds of split a dataset can have: decoded from files, a file-order part of another split, an alias,
or the pool (the mini world's pretraining corpus, a captioned union of other splits).

Each kind has ``load(loader, spec, split, size) -> ImageSet``, ``key(...)`` (what its content depends on,
without decoding anything: the cache key) and ``describe()`` (for ``repro data list``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ReproError
from .cache import cached
from .images import resize
from .imageset import ImageSet
from .sources import Source

if TYPE_CHECKING:  # pragma: no cover
    from .load import Loader
    from .registry import DatasetSpec


@dataclass(frozen=True)
class Stored:
    """Images decoded from the first of ``sources`` found in the search folders (else downloaded)."""

    sources: tuple[Source, ...]

    def key(self, loader: Loader, spec: DatasetSpec, split: str, size: int) -> dict:
        source, path = loader.find(spec, split, self.sources)
        return {"source": source.describe(), "fingerprint": source.fingerprint(path), "size": size}

    def load(self, loader: Loader, spec: DatasetSpec, split: str, size: int) -> ImageSet:
        source, path = loader.find(spec, split, self.sources)
        arrays, _ = cached(
            f"{source.cache_stem}-{size or 'own'}px",
            self.key(loader, spec, split, size),
            lambda: source.decode(path, size).arrays(),
        )
        if spec.location is not None and size is not None:
            print(
                f"repro data: every image of {path} centre-cropped and resized to {size} px, as --image-size "
                "asked (they are used at their own size otherwise)",
                file=sys.stderr,
            )
        keys = [str(c) for c in arrays["classes"]]
        if spec.classes is not None and keys != list(spec.classes):
            raise ReproError(
                f"{path} labels the classes {keys}, but {spec.name} has {list(spec.classes)}; "
                "the file is not this dataset"
            )
        names = spec.class_names(path)
        return ImageSet(
            arrays["images"],
            arrays["labels"],
            [names.get(k, k) for k in keys],
            arrays["ids"].tolist(),
            f"{spec.name}/{split}",
        )

    def describe(self) -> str:
        return " | ".join(s.describe() for s in self.sources)


def file_order_indices(labels: np.ndarray, head: int | tuple[int, int], tail: bool) -> np.ndarray:
    """Per class, in the set's order: the first ``head`` images (an int, or the share num/den rounded down),
    or with ``tail`` every image after them."""
    chosen = [np.zeros(0, np.int64)]
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        count = head if isinstance(head, int) else len(members) * head[0] // head[1]
        chosen.append(members[count:] if tail else members[:count])
    return np.sort(np.concatenate(chosen))


@dataclass(frozen=True)
class FileOrder:
    """A part of split ``of`` chosen by file order within each class (sorted file names for image trees)."""

    of: str
    head: int | tuple[int, int]
    tail: bool = False

    def key(self, loader: Loader, spec: DatasetSpec, split: str, size: int) -> dict:
        return {"of": loader.key(spec.name, self.of, size), "head": self.head, "tail": self.tail}

    def load(self, loader: Loader, spec: DatasetSpec, split: str, size: int) -> ImageSet:
        base = loader.load(spec.name, self.of, size)
        return base.subset(file_order_indices(base.labels, self.head, self.tail), f"{spec.name}/{split}")

    def describe(self) -> str:
        first = (
            f"first {self.head}"
            if isinstance(self.head, int)
            else f"first {self.head[0]}/{self.head[1]} (rounded down)"
        )
        return f"{self.of} minus its {first} of each class" if self.tail else f"{first} of each class of {self.of}"


@dataclass(frozen=True)
class Alias:
    """Another name for split ``of`` (e.g. ImageNette's test split is its official val split)."""

    of: str

    def key(self, loader: Loader, spec: DatasetSpec, split: str, size: int) -> dict:
        return loader.key(spec.name, self.of, size)

    def load(self, loader: Loader, spec: DatasetSpec, split: str, size: int) -> ImageSet:
        image_set = loader.load(spec.name, self.of, size)
        image_set.name = f"{spec.name}/{split}"
        return image_set

    def describe(self) -> str:
        return f"= {self.of}"


@dataclass(frozen=True)
class PoolPart:
    dataset: str
    split: str
    #: caption template, ``{}`` is the class name
    caption: str


@dataclass(frozen=True)
class Pool:
    """A captioned union of splits, every image resized to one size (bicubic, ``images.resize``).

    Labels index the union of the parts' class lists: each part's classes in its order, a name already
    listed (CIFAR-10's and PACS's "dog" and "horse") keeping its first index. ``domains`` names each image's
    part (its dataset). The union is cached: resizing tens of thousands of images is the slow step.
    """

    parts: tuple[PoolPart, ...]

    def key(self, loader: Loader, spec: DatasetSpec, split: str, size: int) -> dict:
        return {"parts": [[loader.key(p.dataset, p.split), p.caption] for p in self.parts], "size": size}

    def load(self, loader: Loader, spec: DatasetSpec, split: str, size: int) -> ImageSet:
        def build() -> dict[str, np.ndarray]:
            sets = [loader.load(p.dataset, p.split) for p in self.parts]
            classes = union_classes([s.classes for s in sets])
            index = {c: i for i, c in enumerate(classes)}
            return {
                "images": np.concatenate([resize(s.images, size) for s in sets]),
                "labels": np.concatenate([np.array([index[c] for c in s.classes], np.int64)[s.labels] for s in sets]),
                "classes": np.asarray(classes, dtype=str),
                "ids": np.asarray([i for s in sets for i in s.ids], dtype=str),
                "captions": np.asarray(
                    [p.caption.format(s.classes[label]) for p, s in zip(self.parts, sets) for label in s.labels],
                    dtype=str,
                ),
                "domains": np.asarray([p.dataset for p, s in zip(self.parts, sets) for _ in s.ids], dtype=str),
            }

        arrays, _ = cached(f"{spec.name}-{split}-{size}px", self.key(loader, spec, split, size), build)
        return ImageSet(
            arrays["images"],
            arrays["labels"],
            arrays["classes"].tolist(),
            arrays["ids"].tolist(),
            f"{spec.name}/{split}",
            captions=arrays["captions"].tolist(),
            domains=arrays["domains"].tolist(),
        )

    def describe(self) -> str:
        return " + ".join(f"{p.dataset}/{p.split} ({p.caption!r})" for p in self.parts)


def union_classes(class_lists: list[list[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for names in class_lists:
        seen.update((n, None) for n in names)
    return list(seen)
