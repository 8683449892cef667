"""Shared pieces of the classifier tests: an easy generated image set."""

from __future__ import annotations

import numpy as np

from repro.classifiers import Pool


def bars_dataset(n_per_class: int = 64, size: int = 16, seed: int = 0, name: str = "bars") -> Pool:
    """Four easy classes, unchanged by a horizontal flip: a bright bar at the top, a bar at the bottom, a
    vertical bar, a cross; on dark noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 90, (4 * n_per_class, size, size, 3))
    labels = np.repeat(np.arange(4), n_per_class)
    for img, label in zip(images, labels):
        row = rng.integers(1, size // 2 - 2) + (size // 2 if label == 1 else 0)
        col = rng.integers(2, size - 4)
        if label in (0, 1, 3):
            img[row : row + 2, 2:-2] = 230
        if label in (2, 3):
            img[2:-2, col : col + 2] = 230
    order = rng.permutation(len(labels))
    return Pool(images.astype(np.uint8)[order], labels[order], ["bar-top", "bar-bottom", "vertical", "cross"], name)
