"""Training data: real only, synthetic only, or both with a fixed real:synthetic count in every batch (Table 7).

The authors' code builds each batch from two loaders (``--real-bs``, ``--syn-bs``); so do we: two GPU-resident
streams (``repro.data.gpu.GpuBatches``), each with its own shuffle and epoch, give exactly ``n_real`` and
``n_synthetic`` images per batch, concatenated. A ratio that does not split the batch into whole images is
refused rather than rounded.

Image sets are anything with ``images`` (uint8 [N, H, W, 3]), ``labels`` (int64 [N]) and ``classes`` (label ->
class name), such as ``repro.data.ImageSet``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from ..errors import ReproError
from ..memo import once_per_object


@dataclass
class Pool:
    """A minimal image set (the fields the streams use); what ME-ADA's growing training set is held in."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    name: str = "pool"

    def __len__(self) -> int:
        return len(self.labels)


def parse_ratio(text: str) -> tuple[int, int]:
    """``"1:7"`` -> (1, 7)."""
    try:
        real, synthetic = (int(part) for part in str(text).split(":"))
    except ValueError:
        raise ReproError(f"ratio {text!r} must be REAL:SYNTHETIC with whole numbers, e.g. 1:1 or 1:7") from None
    if real < 1 or synthetic < 1:
        raise ReproError(f"ratio {text!r} needs both parts >= 1; train on one source alone by omitting the other")
    return real, synthetic


def split_batch(batch_size: int, ratio: tuple[int, int]) -> tuple[int, int]:
    """Exact per-batch counts (real, synthetic) for ``ratio``; the batch must divide into whole images."""
    real, synthetic = ratio
    if (batch_size * real) % (real + synthetic):
        raise ReproError(
            f"a batch of {batch_size} cannot hold real:synthetic = {real}:{synthetic} exactly; choose a batch size "
            f"divisible by {real + synthetic}"
        )
    n_real = batch_size * real // (real + synthetic)
    return n_real, batch_size - n_real


#: exact channel sums of the image arrays met so far, by object; an entry leaves with its array
_sums: dict[int, tuple[np.ndarray, np.ndarray]] = {}
#: images per chunk of :func:`channel_sums` (50 M values at 64 px: bounded memory on the host and the device)
SUMS_CHUNK = 4096


def channel_sums(images: np.ndarray, device: str | torch.device | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-channel sums of the values and of their squares (int64, exact) of uint8 images [N, H, W, 3], and the
    pixels per channel; once per array object. A notebook builds a model for every training of its grid, and
    float64 sums on the host took 51 s for a 150,000-image set (Table 3's K=50 retrieval, per seed): the sums are
    integers, so a GPU's reduction or a histogram per chunk on the host gives the same numbers in a fraction."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ReproError(f"channel statistics need uint8 images [N, H, W, 3], not {images.dtype} {images.shape}")
    on_gpu = device is not None and torch.device(device).type == "cuda"
    values, squares = once_per_object(_sums, images, partial(_gpu_sums, device=device) if on_gpu else _host_sums)
    return values, squares, images.shape[0] * images.shape[1] * images.shape[2]


def _host_sums(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, squares = np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64)
    offsets = np.array([0, 256, 512], dtype=np.uint16)  # one histogram of the three channels' values side by side
    levels = np.arange(256, dtype=np.int64)
    for start in range(0, len(images), SUMS_CHUNK):
        counts = np.bincount((images[start : start + SUMS_CHUNK].reshape(-1, 3) + offsets).ravel(), minlength=768)
        values += counts.reshape(3, 256) @ levels
        squares += counts.reshape(3, 256) @ (levels * levels)
    return values, squares


def _gpu_sums(images: np.ndarray, device) -> tuple[np.ndarray, np.ndarray]:
    sums = torch.zeros(2, 3, dtype=torch.int64, device=device)  # read once at the end: each read waits for the GPU
    for start in range(0, len(images), SUMS_CHUNK):
        pixels = torch.from_numpy(images[start : start + SUMS_CHUNK].reshape(-1, 3)).to(device).int()
        sums[0] += pixels.sum(0, dtype=torch.int64)
        sums[1] += (pixels * pixels).sum(0, dtype=torch.int64)
    values, squares = sums.cpu().numpy()
    return values, squares


def _check_set(images, role: str):
    if images is None:
        return
    name = getattr(images, "name", role)
    if len(images.labels) == 0:
        raise ReproError(f"the {role} image set {name!r} is empty; check its split or the data folder")
    arr = images.images
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ReproError(f"{role} images of {name!r} must be uint8 [N, H, W, 3]; got {arr.dtype} {tuple(arr.shape)}")
    if len(arr) != len(images.labels):
        raise ReproError(f"{role} set {name!r} has {len(arr)} images but {len(images.labels)} labels")
    labels = np.asarray(images.labels)
    if labels.min() < 0 or labels.max() >= len(images.classes):
        raise ReproError(f"{role} labels of {name!r} fall outside its {len(images.classes)} classes")


@dataclass
class TrainingData:
    """What a classifier trains on. With both sources, ``ratio`` (real, synthetic) fixes every batch's mix."""

    real: object | None = None
    synthetic: object | None = None
    ratio: tuple[int, int] | None = None

    def __post_init__(self):
        if self.real is None and self.synthetic is None:
            raise ReproError("no training data: give real images, synthetic images, or both")
        _check_set(self.real, "real")
        _check_set(self.synthetic, "synthetic")
        if self.real is not None and self.synthetic is not None:
            if list(self.real.classes) != list(self.synthetic.classes):
                raise ReproError(
                    f"real classes {list(self.real.classes)} differ from synthetic classes "
                    f"{list(self.synthetic.classes)}; both must label the same classes in the same order"
                )
            if self.real.images.shape[1:] != self.synthetic.images.shape[1:]:
                raise ReproError(
                    f"real images are {self.real.images.shape[1:3]} px but synthetic ones "
                    f"{self.synthetic.images.shape[1:3]}; resize the synthetic set to the real resolution "
                    "(repro.data.resize), as the paper does"
                )
            if self.ratio is None:
                raise ReproError("real and synthetic data together need a ratio, e.g. --ratio 1:1")
            self.ratio = tuple(self.ratio)

    @property
    def sources(self) -> list:
        return [s for s in (self.real, self.synthetic) if s is not None]

    @property
    def classes(self) -> list[str]:
        return list(self.sources[0].classes)

    @property
    def resolution(self) -> int:
        return int(self.sources[0].images.shape[1])

    def channel_stats(self, device: str | torch.device | None = None) -> tuple[list[float], list[float]]:
        """Per-channel mean and std in [0, 1] of the first source (real if given): the model's normalisation.

        The authors hard-code each dataset's statistics of its real training set; computing them from the
        training images gives the same for their datasets and works for any other (PACS sketch, the pool).
        Exact (:func:`channel_sums`), on ``device`` when it is a GPU.
        """
        images = self.sources[0].images
        values, squares, count = channel_sums(images, device)
        mean = values / (255.0 * count)
        std = np.sqrt(np.maximum(squares / (255.0**2 * count) - mean**2, 1e-12))
        return mean.tolist(), std.tolist()

    def counts(self, batch_size: int) -> list[int]:
        """Images per batch from each source, in ``sources`` order."""
        if len(self.sources) == 1:
            return [batch_size]
        return list(split_batch(batch_size, self.ratio))

    def stream(
        self, batch_size: int, device: torch.device, seed: int, crop_pad: int, flip: bool
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Endless batches (float NCHW in [0, 1] on ``device``, int64 labels); real images come first."""
        from ..data.gpu import GpuBatches

        streams = []
        for offset, (source, count) in enumerate(zip(self.sources, self.counts(batch_size))):
            if count > len(source.labels):
                raise ReproError(
                    f"{getattr(source, 'name', 'a training set')!r} has {len(source.labels)} images, fewer than the "
                    f"{count} each batch takes from it; lower the batch size or add images"
                )
            batches = GpuBatches(
                source.images,
                np.asarray(source.labels, dtype=np.int64),
                count,
                device,
                shuffle=True,
                crop_pad=crop_pad,
                flip=flip,
                seed=seed + 1000 * offset,
                drop_last=True,
            )
            streams.append(_forever(batches))
        while True:
            parts = [next(s) for s in streams]
            if len(parts) == 1:
                yield parts[0]
            else:
                yield torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def extended(self, images: np.ndarray, labels: np.ndarray) -> TrainingData:
        """The same data plus extra labelled images (ME-ADA's adversarial copies); one source only."""
        if len(self.sources) != 1:
            raise ReproError("ME-ADA extends a single training set; train it on real or on synthetic data alone")
        (source,) = self.sources
        pool = Pool(
            np.concatenate([source.images, images]),
            np.concatenate([np.asarray(source.labels), labels]),
            list(source.classes),
            getattr(source, "name", "pool"),
        )
        return TrainingData(real=pool) if self.real is not None else TrainingData(synthetic=pool)


def _forever(batches) -> Iterator:
    """Epoch after epoch of a re-iterable batch source (each pass reshuffles)."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ReproError("a training stream produced no batch in a whole epoch; the set is smaller than a batch")
