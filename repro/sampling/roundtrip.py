"""The VAE round trip of real images (paper Tables 1 and 6): how much the autoencoder alone changes data.

uint8 images -> resize to the generator's resolution -> encode (posterior mean) -> decode -> resize back ->
uint8, with the same bicubic resize as generated images, so real and synthetic data pass the same path.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..generators.pixels import to_model_pixels, to_uint8
from ..inversion.fastpath import FastPath, precision_of
from ..provenance import phase


@torch.no_grad()
@phase("vae")  # a workflow job's phases say where its time went (Tables 1 and 6 spend much of it here)
def vae_roundtrip(
    bundle, images: np.ndarray, resolution: int | None = None, batch: int = 64, precision: str | None = None
) -> np.ndarray:
    """``images`` uint8 ``[N, H, W, 3]`` after a trip through the VAE at ``resolution`` (default: the
    generator's); returns the same shape. The posterior mean is used, so the result is deterministic.
    ``precision`` defaults to the precision the generator is loaded in (a bf16 bundle runs under bf16
    autocast, an fp32 one in fp32)."""
    resolution = resolution or bundle.resolution
    bundle.latent_size(resolution)  # raises when the VAE cannot take this resolution
    fast = FastPath(precision or precision_of(bundle.dtype))
    fast.check_model_dtype(bundle.dtype)
    size = int(images.shape[1])
    out = np.empty_like(images)
    for start in range(0, len(images), batch):
        pixels = to_model_pixels(images[start : start + batch], resolution, bundle.device)
        with fast.autocast(bundle.device):
            decoded = bundle.decode_latents(bundle.encode_images(pixels))
        out[start : start + batch] = to_uint8(decoded, size)
    return out


def roundtrip_set(bundle, image_set, precision: str | None = None):
    """``image_set`` (an ``ImageSet``) with every image replaced by its VAE round trip (:func:`vae_roundtrip`): the
    images as the generator can draw them, whose sharpness no longer tells one source of a pool from another."""
    return replace(image_set, images=vae_roundtrip(bundle, image_set.images, precision=precision))
