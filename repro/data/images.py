"""Pixel conversions shared by every dataset: decoding one file to RGB, and the one bicubic resize.

Conventions (the same for every source, so that archives, official downloads and caches agree):

- Colour: every image becomes 8-bit RGB. Grayscale (``L``, ``I;16``, ``1``), palette and CMYK images go
  through PIL's ``convert("RGB")`` (grayscale is replicated into the three channels). Images with an alpha
  channel (``RGBA``, ``LA``, palette with transparency) are composited over a **white** background, because
  the transparent images in these datasets are drawings and sketches on an empty page.
- Size: an image folder may hold images of any size. An image that is not already ``size`` x ``size`` is
  centre-cropped to a square (the shorter side) and resized to ``size`` with PIL's bicubic filter.
- ``resize`` (whole uint8 arrays, e.g. 32 px CIFAR-10 up to the pool's 64 px) applies the same PIL bicubic
  filter (a = -0.5, support widened when shrinking, i.e. antialiased). ``torch``'s bicubic interpolation with
  ``antialias=True`` (used on GPU tensors elsewhere, e.g. ``repro.generators.pixels``) is the same filter and
  agrees with it to within one grey level, so it does not matter which path resized an image.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def to_rgb(image: Image.Image) -> Image.Image:
    """The documented conversion of any PIL image to RGB (alpha composited over white)."""
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        page = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(page, rgba).convert("RGB")
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16/32-bit grayscale: PIL's convert would clip at 255 instead of scaling the range down
        array = np.asarray(image, dtype=np.float64)
        top = array.max() if array.size and array.max() > 255 else 255.0
        image = Image.fromarray(np.round(array * (255.0 / top)).astype(np.uint8), mode="L")
    return image.convert("RGB")


def square(image: Image.Image, size: int) -> Image.Image:
    """Centre crop to the shorter side, then bicubic resize to ``size`` x ``size`` (no-op when already so)."""
    width, height = image.size
    if (width, height) == (size, size):
        return image
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    if side != width or side != height:
        image = image.crop((left, top, left + side, top + side))
    return image.resize((size, size), Image.BICUBIC)


def decode_image(data: bytes, size: int | None) -> np.ndarray:
    """Encoded image bytes -> uint8 ``[size, size, 3]`` (or the native size when ``size`` is None)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        rgb = to_rgb(image)
    if size is not None:
        rgb = square(rgb, size)
    return np.asarray(rgb, dtype=np.uint8)


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Bicubic resize of uint8 ``[N, H, W, 3]`` images to ``size`` x ``size``; uint8 out.

    The same PIL bicubic filter as decoding, image by image (on two CPU cores this is several times faster
    than torch's antialiased bicubic, which it matches to within one grey level). Every array this layer
    makes is square; a non-square input would be stretched. Returns the input itself at that size already.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"resize needs uint8 images [N, H, W, 3], got {images.dtype} {images.shape}")
    if images.shape[1:3] == (size, size):
        return images
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC))
    return out
