"""Training batches served from GPU memory, with the papers' augmentation done on the GPU.

The whole uint8 set is copied to the device once (50,000 CIFAR images are 150 MB). Each batch is one gather:
per-sample random crop offsets after zero padding and per-sample horizontal flips are folded into the row and
column indices of a single advanced-indexing read, so there is no Python loop over images and no padded copy
of the data. Shuffling uses a seeded generator on the device; every pass over the data (``iter``) draws a
new permutation, so a fixed seed gives the same sequence of batches run after run on the same device.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ..errors import ReproError


def to_device(values, device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Host values (a NumPy array or nested lists) as a tensor on ``device``, queued without waiting for it.

    A copy from pageable host memory makes the CUDA stream finish all its queued work first: a per-step
    augmentation parameter copied that way stops the host until the training's previous step is done, so a grid's
    other trainings cannot be queued meanwhile. Copied from pinned memory (PyTorch caches the pinned blocks and
    keeps each until its copy is done), it is queued like a kernel.
    """
    tensor = torch.as_tensor(np.asarray(values), dtype=dtype)
    device = torch.device(device)
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


class GpuBatches:
    """Iterates ``(images, labels)``: float ``[B, 3, H, W]`` in [0, 1] and int64 ``[B]``, on ``device``.

    ``crop_pad``: random crop of the original size after zero padding by this many pixels (0: no crop);
    ``flip``: random horizontal flip with probability 1/2; ``drop_last``: only full batches.
    ``steps``: when given, one ``iter`` yields exactly this many batches, running over as many epochs as
    needed (each reshuffled); otherwise one ``iter`` is one epoch. ``forever()`` never stops.
    ``channels_last``: return the batch in channels-last memory format (for channels-last models).
    """

    def __init__(
        self,
        images_uint8,
        labels,
        batch_size: int,
        device,
        shuffle: bool = True,
        crop_pad: int = 4,
        flip: bool = True,
        seed: int = 0,
        drop_last: bool = True,
        steps: int | None = None,
        channels_last: bool = False,
    ):
        self.device = torch.device(device)
        images = torch.as_tensor(
            np.ascontiguousarray(images_uint8) if isinstance(images_uint8, np.ndarray) else images_uint8
        )
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ReproError(f"GpuBatches needs uint8 images [N, H, W, 3], got {images.dtype} {tuple(images.shape)}")
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        if len(labels) != len(images):
            raise ReproError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1 or (drop_last and batch_size > len(images)):
            raise ReproError(
                f"batch size {batch_size} does not fit {len(images)} images (drop_last={drop_last}); "
                "lower the batch size"
            )
        if crop_pad < 0 or (steps is not None and steps < 1):
            raise ReproError(f"crop_pad must be >= 0 and steps >= 1, got crop_pad={crop_pad}, steps={steps}")
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size, self.shuffle, self.crop_pad, self.flip = batch_size, shuffle, crop_pad, flip
        self.drop_last, self.steps, self.channels_last = drop_last, steps, channels_last
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))
        height, width = images.shape[1:3]
        self._rows = torch.arange(height, device=self.device)
        self._cols = torch.arange(width, device=self.device)
        self.epoch = 0

    @property
    def batches_per_epoch(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        return self.steps if self.steps is not None else self.batches_per_epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.steps is None:
            yield from self._epoch()
            return
        produced = 0
        while True:
            for batch in self._epoch():
                yield batch
                produced += 1
                if produced == self.steps:
                    return

    def forever(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from self._epoch()

    def _epoch(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.images)
        order = (
            torch.randperm(n, generator=self.generator, device=self.device)
            if self.shuffle
            else torch.arange(n, device=self.device)
        )
        self.epoch += 1
        end = n - n % self.batch_size if self.drop_last else n
        for start in range(0, end, self.batch_size):
            index = order[start : start + self.batch_size]
            yield self.augment(index), self.labels[index]

    def augment(self, index: torch.Tensor) -> torch.Tensor:
        """The images at ``index``, randomly cropped (after zero padding) and flipped, as float NCHW in [0, 1]."""
        count = len(index)
        rows = self._rows.expand(count, -1)
        cols = self._cols.expand(count, -1)
        if self.crop_pad:
            # a crop of the padded image at offset o reads source pixel (i + o - pad); outside the image is zero
            shift = torch.randint(
                -self.crop_pad, self.crop_pad + 1, (2, count, 1), generator=self.generator, device=self.device
            )
            rows, cols = rows + shift[0], cols + shift[1]
        if self.flip:
            flipped = torch.rand(count, 1, generator=self.generator, device=self.device) < 0.5
            cols = torch.where(flipped, cols.flip(1), cols)
        height, width = self.images.shape[1:3]
        pixels = self.images[
            index[:, None, None], rows.clamp(0, height - 1)[:, :, None], cols.clamp(0, width - 1)[:, None, :]
        ]
        if self.crop_pad:
            inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
            pixels = pixels * inside[..., None]
        batch = pixels.permute(0, 3, 1, 2).float().div_(255.0)
        return batch.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
