"""Small numerical judgements the claims share: where a curve reaches a level, and how a value compares."""

from __future__ import annotations

import math
from typing import Sequence


def size_to_reach(sizes: Sequence[float], values: Sequence[float], level: float) -> float | None:
    """The smallest size at which the curve (``values`` at ``sizes``, log-linear between points) reaches
    ``level``; None when it never does within the measured sizes."""
    points = sorted(zip(sizes, values))
    if not points:
        return None
    if points[0][1] >= level:
        return float(points[0][0])
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if y1 >= level > y0:
            share = (level - y0) / (y1 - y0)
            return float(math.exp(math.log(x0) + share * (math.log(x1) - math.log(x0))))
    return None


def describe(values: dict[str, float], digits: int = 1) -> str:
    """``{"real": 61.23, "DI": 64.5}`` -> ``"real 61.2, DI 64.5"`` (evidence strings of claims)."""
    return ", ".join(f"{k} {v:.{digits}f}" for k, v in values.items())
