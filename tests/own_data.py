"""Your own data, made in a test: MNIST-like digits in class folders of PNG files, or one labelled ``.npz``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

DIGITS = ("zero", "one", "two")


def digit_images(per_class: int = 10, size: int = 28, classes: int = len(DIGITS), seed: int = 0):
    """``(images uint8 [N, size, size], labels)``: each class's digit drawn in white on black, shifted and
    noised image by image, like MNIST."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(classes):
        for _ in range(per_class):
            canvas = Image.new("L", (size, size), 0)
            x, y = rng.integers(size // 4, size // 2, 2)
            ImageDraw.Draw(canvas).text((int(x), int(y)), str(label), fill=255)
            noisy = np.asarray(canvas, dtype=np.int16) + rng.integers(0, 40, (size, size))
            images.append(noisy.clip(0, 255).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def digit_folder(path: Path, per_class: int = 10, size: int = 28, classes: int = len(DIGITS), seed: int = 0) -> Path:
    """``path/<digit name>/<i>.png``, grayscale PNGs: the layout `repro` reads as your own data."""
    images, labels = digit_images(per_class, size, classes, seed)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = path / DIGITS[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return path


def digit_npz(path: Path, per_class: int = 10, size: int = 28, classes: int = len(DIGITS), seed: int = 0) -> Path:
    """The same digits as one ``.npz``: grayscale ``images``, ``labels`` and the ``classes`` names."""
    images, labels = digit_images(per_class, size, classes, seed)
    np.savez(path, images=images, labels=labels, classes=np.array(DIGITS[:classes]))
    return path
