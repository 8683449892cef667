"""Conversions between uint8 image arrays and the generator's pixel space, batched on the model's device.

One bicubic resize (antialiased, so that downsizing generated images does not alias) serves every place where
images change resolution: real images going into inversion and the VAE round trip, and generated images
going back to the dataset's resolution.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic resize of float images ``[N, C, H, W]`` to ``size`` x ``size`` (no-op at that size)."""
    if pixels.shape[-2:] == (size, size):
        return pixels
    return F.interpolate(pixels, size=(size, size), mode="bicubic", antialias=True, align_corners=False)


def to_model_pixels(images: np.ndarray | torch.Tensor, resolution: int, device="cpu") -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` -> float ``[N, 3, resolution, resolution]`` in [-1, 1] on ``device``."""
    images = torch.as_tensor(np.asarray(images)).to(device)
    pixels = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return resize(pixels, resolution).clamp(-1.0, 1.0)


def to_uint8(pixels: torch.Tensor, size: int) -> np.ndarray:
    """Float ``[N, 3, H, W]`` in [-1, 1] -> uint8 ``[N, size, size, 3]`` (numpy, on the CPU)."""
    pixels = resize(pixels.float().clamp(-1.0, 1.0), size)
    images = ((pixels + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return images.permute(0, 2, 3, 1).contiguous().cpu().numpy()
