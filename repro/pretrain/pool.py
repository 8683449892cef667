"""The pretraining data: the pool of the mini world (DESIGN.md), minus images held out for the model card.

The held-out images are drawn with the run's seed and never enter either training stage; the card measures
the autoencoder's reconstruction on them. Their ids are written to ``split.json`` in the work folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ReproError
from ..files import read_json, write_json_atomic
from ..generators.mini_config import RESOLUTION

SPLIT_FILE = "split.json"


def load_pool(data_root: str | os.PathLike | None = None):
    """The pool (``ImageSet`` with captions) from the data layer."""
    from ..data import load_split

    return load_split("pool", "train", root=data_root)


def load_cifar_target(data_root: str | os.PathLike | None = None):
    """CIFAR-10's target split (disjoint from the pool): the model card's Diffusion Inversion stand-in."""
    from ..data import load_split

    return load_split("cifar10", "target", root=data_root)


def check_pool(pool) -> None:
    if getattr(pool, "captions", None) is None:
        raise ReproError(
            f"image set {pool.name!r} has no captions; pretraining needs the pool "
            "(repro.data.load_split('pool', 'train'))"
        )
    if pool.images.ndim != 4 or pool.images.shape[1:] != (RESOLUTION, RESOLUTION, 3) or pool.images.dtype != np.uint8:
        raise ReproError(
            f"pool images are {pool.images.dtype} {tuple(pool.images.shape)}; the mini model needs "
            f"uint8 [N, {RESOLUTION}, {RESOLUTION}, 3] (resize them with repro.data.resize)"
        )


def split_pool(pool, holdout_images: int, seed: int, pool_images: int | None = None):
    """``(train, holdout)`` subsets; ``pool_images`` first draws a smaller pool (smoke scale)."""
    check_pool(pool)
    rng = np.random.default_rng(seed)
    if pool_images is not None and pool_images < len(pool):
        pool = pool.subset(np.sort(rng.choice(len(pool), pool_images, replace=False)))
    if holdout_images >= len(pool):
        raise ReproError(f"cannot hold out {holdout_images} of {len(pool)} pool images; hold out fewer")
    holdout = np.sort(rng.choice(len(pool), holdout_images, replace=False))
    train = np.setdiff1d(np.arange(len(pool)), holdout)
    return pool.subset(train), pool.subset(holdout)


def record_split(work: Path, train, holdout) -> None:
    """Write the held-out ids once; a later call that would split differently is refused."""
    path = Path(work) / SPLIT_FILE
    record = {"train_images": len(train), "holdout_ids": list(holdout.ids)}
    if path.exists():
        if read_json(path, "pool split", "delete the work folder's split.json to split again") != record:
            raise ReproError(
                f"{path} records another pool split (different data, seed or scale); use the "
                "same settings or start a new --work folder"
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, path)


def caption_table(captions: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct captions plus the empty prompt (last), and each image's index into that list."""
    distinct = sorted(set(captions))
    position = {c: i for i, c in enumerate(distinct)}
    return distinct + [""], np.array([position[c] for c in captions], dtype=np.int64)
