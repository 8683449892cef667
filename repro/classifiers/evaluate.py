"""Top-1 accuracy on a test set, and mean/std over seeds.

The VAE-processed test set of Table 6 is just other images: ``evaluate(model, vae_images, labels)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

from ..errors import ReproError
from .train import Speed, autocast, resolve_device


def _as_batches(images, batch_size: int, device: torch.device, channels_last: bool):
    """uint8 [N, H, W, 3] (numpy or torch) or float [N, 3, H, W] in [0, 1] -> float NCHW batches on device."""
    for start in range(0, len(images), batch_size):
        chunk = torch.as_tensor(images[start : start + batch_size]).to(device, non_blocking=True)
        if chunk.dtype == torch.uint8:
            chunk = chunk.permute(0, 3, 1, 2).float().div_(255)
        if channels_last:
            chunk = chunk.contiguous(memory_format=torch.channels_last)
        yield chunk


def _image_size(images) -> tuple[int, int]:
    shape = tuple(images.shape)
    is_uint8 = (images.dtype == np.uint8) if isinstance(images, np.ndarray) else images.dtype == torch.uint8
    if len(shape) != 4 or (shape[-1] if is_uint8 else shape[1]) != 3:
        raise ReproError(f"test images must be uint8 [N, H, W, 3] or float [N, 3, H, W]; got {shape}")
    return shape[1:3] if is_uint8 else shape[2:4]


@torch.no_grad()
def predict(
    model: torch.nn.Module, images, batch_size: int = 1000, device=None, speed: Speed | None = None
) -> torch.Tensor:
    """Predicted labels (int64, CPU) of ``images`` at the model's resolution."""
    if len(images) == 0:
        raise ReproError("no test images to evaluate; check the test split")
    size = _image_size(images)
    resolution = getattr(model, "resolution", None)
    if resolution is not None and tuple(size) != (resolution, resolution):
        raise ReproError(
            f"test images are {size[0]}x{size[1]} px but the model was trained at {resolution} px; "
            "resize them first (repro.data.resize)"
        )
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    speed = speed or Speed.auto(device)
    model.to(device).eval()
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    predictions = []
    for batch in _as_batches(images, batch_size, device, speed.channels_last):
        with autocast(device, speed):
            predictions.append(model(batch).argmax(dim=1))
    return torch.cat(predictions).cpu()


def evaluate(
    model: torch.nn.Module, images, labels, batch_size: int = 1000, device=None, speed: Speed | None = None
) -> float:
    """Top-1 accuracy in percent."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if len(labels) != len(images):
        raise ReproError(f"{len(images)} test images but {len(labels)} labels")
    predicted = predict(model, images, batch_size, device, speed)
    return 100.0 * (predicted == labels).double().mean().item()


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1, as the result tables); std is NaN for a single value."""
    values = np.asarray(list(values), dtype=np.float64)
    if values.size == 0:
        raise ReproError("no values to average")
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else math.nan
