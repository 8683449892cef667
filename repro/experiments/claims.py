"""Small numerical judgements the claims share: mean ± std of a cell, where a curve reaches a level, whether a
difference exceeds the seeds' spread, whether a curve rises or never falls."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd

from ..errors import ReproError


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


@dataclass(frozen=True)
class Cell:
    """Mean and std over the seeds of one measured cell (std 0 with one seed: no spread)."""

    mean: float
    std: float
    seeds: int

    def __str__(self) -> str:
        return f"{self.mean:.1f} ± {self.std:.1f}" if self.seeds > 1 else f"{self.mean:.1f}"


def cells(frame: pd.DataFrame, by: str | Sequence[str]) -> dict[Any, Cell]:
    """``{key: Cell}`` of ``value`` grouped by the fields ``by`` (a tuple key for several fields)."""
    if frame.empty:
        raise ReproError("no recorded rows to summarise; record the sweep's cells first")
    stats = frame.groupby(by if isinstance(by, str) else list(by))["value"].agg(["mean", "std", "count"])
    return {key: Cell(float(r["mean"]), 0.0 if math.isnan(r["std"]) else float(r["std"]), int(r["count"]))
            for key, r in stats.iterrows()}


def spread(*compared: Cell) -> float:
    """The larger seed std of the cells compared: a difference counts when it exceeds it."""
    return max(c.std for c in compared)


def best(cells_by_key: Mapping[Any, Cell]) -> Any:
    """The key of the highest mean."""
    return max(cells_by_key, key=lambda k: cells_by_key[k].mean)


def steady(cells_in_order: Sequence[Cell]) -> bool:
    """Whether the curve never falls by more than the spread of the two neighbouring cells (a fall within the
    seeds' noise does not count)."""
    return all(b.mean >= a.mean - spread(a, b) for a, b in zip(cells_in_order, cells_in_order[1:]))


def monotone(values: Sequence[float], rising: bool) -> bool:
    """Whether ``values`` never move against the direction and end strictly beyond where they start."""
    if len(values) < 2:
        return False
    steps = [b - a for a, b in zip(values, values[1:])]
    if not rising:
        steps = [-s for s in steps]
    return all(s >= 0 for s in steps) and sum(steps) > 0
