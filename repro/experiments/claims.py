"""The one rule that decides every claim, and the few numbers derived from measured cells that claims report.

A claim compares measured cells: the per-seed values of one table cell (a seed retrains the classifier and
resamples the synthetic data it trains on). A comparison is a linear contrast of cell means, a difference
``a - b`` or a difference of differences, with its Welch-Satterthwaite t interval at :data:`LEVEL`. A statement
"the contrast lies above (or below) a threshold":

- holds (``True``) when the whole interval lies on the claimed side of the threshold,
- fails (``False``) when the whole interval lies on the other side,
- is undecided (``None``) when the interval straddles the threshold, or when a cell has fewer than two seeds
  (no spread, no interval: one seed never decides a claim).

The threshold is 0 for "a beats b". Statements of no difference ("at least as good", "no gain", "suffices") use
the equivalence :data:`MARGIN`, since no interval can show a difference of exactly zero. A claim made of several
statements is ``all_of`` them (holds when each holds; fails when one fails at the level corrected for the K
statements, Bonferroni) or ``any_of`` them (holds when one holds at the corrected level; fails when all fail),
so "at least one of K" is never won by trying K times. Best-of-K choices are made on a validation split
(:func:`repro.experiments.protocol.validation_split`), never on the test set, with :func:`best`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ReproError

#: two-sided confidence of every interval (the family's, for a claim of several statements)
LEVEL = 0.95
#: accuracy points within which two accuracies count as the same: the equivalence margin of the claims that
#: state no difference ("at least as good as", "no gain over", "suffices")
MARGIN = 1.0
#: metrics for which a lower value is better (the others: higher is better)
LOWER_IS_BETTER = frozenset({"fid", "kid"})


@dataclass(frozen=True)
class Cell:
    """The per-seed values of one measured cell."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        """Sample std over the seeds (0 with one seed: no spread)."""
        return float(np.std(self.values, ddof=1)) if self.seeds > 1 else 0.0

    @property
    def seeds(self) -> int:
        return len(self.values)

    def __str__(self) -> str:
        return f"{self.mean:.3g} ± {self.std:.2g}" if self.seeds > 1 else f"{self.mean:.3g} (1 seed)"


def cells(frame: pd.DataFrame, by: str | Sequence[str]) -> dict[Any, Cell]:
    """``{key: Cell}`` of ``value`` grouped by the fields ``by`` (a tuple key for several fields)."""
    if frame.empty:
        raise ReproError("no recorded rows to summarise; record the sweep's cells first")
    groups = frame.groupby(by if isinstance(by, str) else list(by))["value"]
    return {key: Cell(tuple(float(v) for v in values)) for key, values in groups}


@dataclass(frozen=True)
class Contrast:
    """``sum(weight * cell.mean)`` over its terms, e.g. ``a - b`` as ``((1, a), (-1, b))``."""

    terms: tuple[tuple[float, Cell], ...]
    label: str

    @property
    def estimate(self) -> float:
        return sum(w * c.mean for w, c in self.terms)

    def interval(self, alpha: float) -> tuple[float, float] | None:
        """The two-sided ``1 - alpha`` Welch-Satterthwaite t interval; None when a cell has one seed. A spread
        of zero over two or more seeds (a deterministic count) gives the exact value."""
        if any(c.seeds < 2 for _, c in self.terms):
            return None
        parts = [w * w * c.std ** 2 / c.seeds for w, c in self.terms]
        se = math.sqrt(sum(parts))
        if se == 0:
            return self.estimate, self.estimate
        df = se ** 4 / sum(p * p / (c.seeds - 1) for p, (_, c) in zip(parts, self.terms) if p > 0)
        half = float(stats.t.ppf(1 - alpha / 2, df)) * se
        return self.estimate - half, self.estimate + half


def difference(a: Cell, b: Cell, label: str) -> Contrast:
    return Contrast(((1.0, a), (-1.0, b)), label)


class Judgement:
    """A statement, or a combination of statements, that decides a claim."""

    def verdict(self, alpha: float = 1 - LEVEL) -> bool | None:
        raise NotImplementedError

    def evidence(self, alpha: float = 1 - LEVEL) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Check(Judgement):
    """"``contrast`` lies above ``threshold``" (``above``) or below it."""

    contrast: Contrast
    above: bool
    threshold: float = 0.0

    def verdict(self, alpha: float = 1 - LEVEL) -> bool | None:
        interval = self.contrast.interval(alpha)
        if interval is None:
            return None
        low, high = interval
        beyond, short = (low > self.threshold, high < self.threshold) if self.above else \
            (high < self.threshold, low > self.threshold)
        return True if beyond else False if short else None

    def evidence(self, alpha: float = 1 - LEVEL) -> str:
        interval = self.contrast.interval(alpha)
        where = ("1 seed: no interval" if interval is None else
                 f"{1 - alpha:.1%} CI [{interval[0]:+.3g}, {interval[1]:+.3g}]".replace(".0%", "%"))
        verdict = {True: "yes", False: "no", None: "undecided"}[self.verdict(alpha)]
        side = ">" if self.above else "<"
        return f"{self.contrast.label} {self.contrast.estimate:+.3g} ({where}) {side} {self.threshold:g}: {verdict}"


@dataclass(frozen=True)
class AllOf(Judgement):
    parts: tuple[Judgement, ...]

    def verdict(self, alpha: float = 1 - LEVEL) -> bool | None:
        if any(p.verdict(alpha / len(self.parts)) is False for p in self.parts):
            return False
        return True if all(p.verdict(alpha) is True for p in self.parts) else None

    def evidence(self, alpha: float = 1 - LEVEL) -> str:
        return "; ".join(p.evidence(alpha) for p in self.parts)


@dataclass(frozen=True)
class AnyOf(Judgement):
    parts: tuple[Judgement, ...]

    def verdict(self, alpha: float = 1 - LEVEL) -> bool | None:
        if any(p.verdict(alpha / len(self.parts)) is True for p in self.parts):
            return True
        return False if all(p.verdict(alpha) is False for p in self.parts) else None

    def evidence(self, alpha: float = 1 - LEVEL) -> str:
        corrected = f"at least one of {len(self.parts)}, each at the Bonferroni-corrected level: "
        return corrected + "; ".join(p.evidence(alpha / len(self.parts)) for p in self.parts)


def all_of(parts: Sequence[Judgement]) -> Judgement:
    """Every statement holds (an empty list is an error: nothing would decide the claim)."""
    return AllOf(_nonempty(parts))


def any_of(parts: Sequence[Judgement]) -> Judgement:
    """At least one statement holds, corrected for the number tried."""
    return AnyOf(_nonempty(parts))


def _nonempty(parts: Sequence[Judgement]) -> tuple[Judgement, ...]:
    if not parts:
        raise ReproError("a claim needs at least one comparison; the measured cells gave none")
    return tuple(parts)


def greater(a: Cell, b: Cell, label: str) -> Check:
    """a beats b: a - b > 0."""
    return Check(difference(a, b, label), above=True)


def less(a: Cell, b: Cell, label: str) -> Check:
    """a is below b: a - b < 0."""
    return Check(difference(a, b, label), above=False)


def at_least(a: Cell, b: Cell, label: str, margin: float = MARGIN) -> Check:
    """a is at least as good as b: a - b > -margin."""
    return Check(difference(a, b, label), above=True, threshold=-margin)


def no_gain(a: Cell, b: Cell, label: str, margin: float = MARGIN) -> Check:
    """a gains nothing over b: a - b < margin."""
    return Check(difference(a, b, label), above=False, threshold=margin)


def better(metric: str, a: Cell, b: Cell, label: str) -> Check:
    """a scores better than b on ``metric`` (lower FID/KID, higher anything else)."""
    return (less if metric in LOWER_IS_BETTER else greater)(a, b, label)


def decide(judgement: Judgement) -> tuple[bool | None, str]:
    """The verdict and the evidence a claim records."""
    return judgement.verdict(), judgement.evidence()


def best(cells_by_key: Mapping[Any, Cell]) -> Any:
    """The key of the highest mean (a best-of-K choice: give it validation cells, never test cells)."""
    return max(cells_by_key, key=lambda k: cells_by_key[k].mean)


def first_reaching(means_by_size: Mapping[float, float], level: float) -> float | None:
    """The smallest size whose mean reaches ``level``; None when none does."""
    reached = [size for size, mean in means_by_size.items() if mean >= level]
    return min(reached) if reached else None


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


@dataclass(frozen=True)
class Factor:
    """How much more real data the real curve needs to match DI trained from ``size`` real images."""

    size: int
    factor: float
    #: True when the real curve never reaches DI's accuracy: the factor only exceeds largest / size
    lower_bound: bool


def matching_factors(sizes: Sequence[int], real: Sequence[float], synthetic: Sequence[float],
                     first: int = 2) -> list[Factor]:
    """For each of the ``first`` smallest sizes, the real-data size (log-linear on the real curve of means)
    that matches DI's mean at that size, as a multiple of it."""
    curve = dict(zip(sizes, synthetic))
    found = []
    for n in sorted(sizes)[:first]:
        needed = size_to_reach(sizes, real, curve[n])
        found.append(Factor(n, (needed or max(sizes)) / n, needed is None))
    return found


def leading_up_to(sizes: Sequence[int], real: Sequence[float], synthetic: Sequence[float]) -> int | None:
    """The largest size up to which DI's mean beats real's at every size from the smallest; None when DI does
    not beat real at the smallest size."""
    last = None
    for n, r, s in sorted(zip(sizes, real, synthetic)):
        if s <= r:
            break
        last = n
    return last
