"""Data-free synthetic datasets (DDIS in any ablation mode, the DeepInversion baseline) in the suite's shard format.

The format and its writer are :mod:`.dataset`'s: an ``index.json`` plus
``shardNNNNN.npz`` files that are planned up front, written atomically and skipped on a rerun. Here a shard is
one generation batch, class-balanced with the classes interleaved (so every batch mixes classes, as the
teacher's BatchNorm statistics do). Data-free images have no source image, partner or interpolation, so those
provenance fields hold -1 / NaN; ``variant`` is the image's number within its class and ``seed`` its batch's
seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..provenance import config_hash
from .dataset import SyntheticDataset, SyntheticWriter


def to_uint8(images01: torch.Tensor) -> np.ndarray:
    """Float images NCHW in [0, 1] -> uint8 NHWC."""
    return (images01.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def balanced_labels(num_classes: int, per_class: int) -> torch.Tensor:
    """0, 1, ..., C-1, 0, 1, ... : ``per_class`` images of every class, interleaved."""
    return torch.arange(num_classes).repeat(per_class)


def batch_seed(seed: int, index: int) -> int:
    """The seed of batch ``index``: a resumed run makes the same images as an uninterrupted one."""
    return seed * 1_000_003 + index


def write_dataset(
    make_batch: Callable[[torch.Tensor, int], torch.Tensor],
    classes: Sequence[str],
    per_class: int,
    batch_size: int,
    out: str | Path,
    resolution: int,
    config: dict,
    seed: int = 0,
    progress: bool = True,
) -> SyntheticDataset:
    """Call ``make_batch(labels, batch_seed) -> images in [0, 1]`` for every missing shard and write it.

    ``config`` (method, generator, settings) goes into the index and its hash guards the folder against a
    rerun with other settings.
    """
    labels = balanced_labels(len(classes), per_class)
    batches = labels.split(batch_size)
    config = {**config, "per_class": per_class, "batch_size": batch_size, "seed": seed}
    meta = {
        "classes": list(classes),
        "resolution": resolution,
        "generator": config.get("generator"),
        "config": config,
        "config_hash": config_hash(config),
    }
    writer = SyntheticWriter(out, meta, [len(b) for b in batches])
    variant = torch.arange(len(labels)) // len(classes)
    start = 0
    for k, batch in enumerate(tqdm(batches, desc=f"writing {Path(out).name}", disable=not progress)):
        rows = slice(start, start + len(batch))
        start += len(batch)
        if writer.done(k):
            continue
        s = batch_seed(seed, k)
        n = len(batch)
        writer.write(
            k,
            to_uint8(make_batch(batch, s)),
            batch.numpy(),
            {
                "source_index": np.full(n, -1),
                "source_id": np.full(n, ""),
                "partner_index": np.full(n, -1),
                "variant": variant[rows].numpy(),
                "w": np.full(n, float(config.get("guidance_scale", np.nan))),
                "lam": np.full(n, np.nan),
                "alpha": np.full(n, np.nan),
                "checkpoint": np.full(n, -1),
                "seed": np.full(n, s),
            },
        )
    return SyntheticDataset(out)


def read_dataset(folder: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A whole synthetic dataset: (images uint8 NHWC, labels int64, class names)."""
    dataset = SyntheticDataset(folder)
    arrays = dataset.load()
    return arrays.images, arrays.labels, dataset.classes
