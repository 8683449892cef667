"""Synthetic datasets on disk: shards of uint8 images with labels and per-image provenance, plus an index.

Layout of a dataset folder::

    index.json          format, classes, resolution, configuration and its hash, the planned shards
    shard00000.npz      images uint8 [n, S, S, 3], labels int64 [n], and provenance arrays: source_index,
                        source_id, partner_index, variant, w, lam, alpha, checkpoint, seed
    ...

Shards are written atomically and planned up front, so a rerun skips the complete ones, several processes
can fill one folder (``--shard i/n``), and a reader can tell a finished dataset from a partial one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ReproError
from ..files import read_damageable, read_json, write_json_atomic
from ..provenance import changed_settings

FORMAT = "repro-synthetic-v1"
INDEX = "index.json"
PROVENANCE_FIELDS = ("source_index", "source_id", "partner_index", "variant", "w", "lam", "alpha", "checkpoint", "seed")


def shard_name(k: int) -> str:
    return f"shard{k:05d}.npz"


class SyntheticWriter:
    """Writes the planned shards of one dataset; refuses a folder that holds another configuration."""

    def __init__(self, out: str | Path, meta: dict, shard_counts: list[int]):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        index = {
            "format": FORMAT,
            **meta,
            "num_images": int(sum(shard_counts)),
            "shards": [{"file": shard_name(k), "count": int(c)} for k, c in enumerate(shard_counts)],
        }
        path = self.out / INDEX
        # a folder without a finished shard holds no work: a run that failed before its first shard is taken over
        if path.exists() and any(self.out.glob("shard*.npz")):
            old = read_json(path, "synthetic dataset index", f"delete {self.out} (or choose a new --out) to start over")
            if old.get("config_hash") != index["config_hash"]:
                keys = ("config", "generator", "weights", "classes", "resolution", "num_images")
                changed = changed_settings({k: old.get(k) for k in keys}, {k: index.get(k) for k in keys})
                raise ReproError(
                    f"{self.out} holds part of a synthetic dataset made with other settings ({changed}); "
                    "rerun with its settings to finish it, or choose a new --out"
                )
        else:
            write_json_atomic(index, path)
        self.counts = list(shard_counts)

    def done(self, k: int) -> bool:
        return (self.out / shard_name(k)).exists()

    def write(self, k: int, images: np.ndarray, labels: np.ndarray, provenance: dict[str, np.ndarray]) -> Path:
        if len(images) != self.counts[k] or images.dtype != np.uint8:
            raise ValueError(f"shard {k} expects {self.counts[k]} uint8 images, got {len(images)} {images.dtype}")
        path = self.out / shard_name(k)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, images=images, labels=labels.astype(np.int64), **provenance)
        os.replace(tmp, path)
        return path


def _read_shard(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@dataclass
class SyntheticArrays:
    images: np.ndarray  # uint8 [N, S, S, 3]
    labels: np.ndarray  # int64 [N]
    provenance: dict[str, np.ndarray]


class SyntheticDataset:
    """Reads a synthetic dataset folder shard by shard, or whole into one array (for GPU-resident training)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        index_path = self.path / INDEX
        if not index_path.exists():
            raise ReproError(f"{self.path} is not a synthetic dataset (no {INDEX}); create it with `repro sample`")
        self.index = read_json(
            index_path, "synthetic dataset index", "rerun the command that wrote the dataset into a new folder"
        )
        if self.index.get("format") != FORMAT:
            raise ReproError(f"{index_path} has format {self.index.get('format')!r}, expected {FORMAT!r}")

    @property
    def classes(self) -> list[str]:
        return list(self.index["classes"])

    @property
    def resolution(self) -> int:
        return int(self.index["resolution"])

    def __len__(self) -> int:
        return int(self.index["num_images"])

    @property
    def missing(self) -> list[str]:
        return [s["file"] for s in self.index["shards"] if not (self.path / s["file"]).exists()]

    @property
    def complete(self) -> bool:
        return not self.missing

    def shards(self) -> Iterator[dict[str, np.ndarray]]:
        """Each shard's arrays in order (images, labels and the provenance fields)."""
        if self.missing:
            raise ReproError(
                f"synthetic dataset {self.path} is incomplete ({len(self.missing)} of "
                f"{len(self.index['shards'])} shards missing); rerun the same `repro sample` "
                "command to finish it"
            )
        for shard in self.index["shards"]:
            yield read_damageable(
                self.path / shard["file"],
                _read_shard,
                "synthetic shard",
                "delete it and rerun the command that wrote the dataset: it writes missing shards",
            )

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self.shards()

    def load(self) -> SyntheticArrays:
        """Everything in one preallocated uint8 array, in shard order."""
        s = self.resolution
        images = np.empty((len(self), s, s, 3), dtype=np.uint8)
        labels = np.empty(len(self), dtype=np.int64)
        provenance: dict[str, list[np.ndarray]] = {k: [] for k in PROVENANCE_FIELDS}
        start = 0
        for shard in self.shards():
            n = len(shard["labels"])
            images[start : start + n], labels[start : start + n] = shard["images"], shard["labels"]
            for k in PROVENANCE_FIELDS:
                provenance[k].append(shard[k])
            start += n
        # an empty set (an LECF filter that kept nothing) loads as empty arrays
        return SyntheticArrays(
            images, labels, {k: np.concatenate(v) if v else np.zeros(0) for k, v in provenance.items()}
        )
