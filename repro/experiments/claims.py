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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ReproError
from ..results.tables import INTERVAL, NO_INTERVAL

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
        parts = [w * w * c.std**2 / c.seeds for w, c in self.terms]
        se = math.sqrt(sum(parts))
        if se == 0:
            return self.estimate, self.estimate
        df = se**4 / sum(p * p / (c.seeds - 1) for p, (_, c) in zip(parts, self.terms) if p > 0)
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
    """ "``contrast`` lies above ``threshold``" (``above``) or below it."""

    contrast: Contrast
    above: bool
    threshold: float = 0.0

    def verdict(self, alpha: float = 1 - LEVEL) -> bool | None:
        interval = self.contrast.interval(alpha)
        if interval is None:
            return None
        low, high = interval
        beyond, short = (
            (low > self.threshold, high < self.threshold)
            if self.above
            else (high < self.threshold, low > self.threshold)
        )
        return True if beyond else False if short else None

    def evidence(self, alpha: float = 1 - LEVEL) -> str:
        interval = self.contrast.interval(alpha)
        level = f"{1 - alpha:.1%}".removesuffix("%").removesuffix(".0")  # 95, 98.3
        where = NO_INTERVAL if interval is None else f"{level}{INTERVAL}{interval[0]:+.3g}, {interval[1]:+.3g}]"
        verdict = {True: "yes", False: "no", None: "undecided"}[self.verdict(alpha)]
        side = ">" if self.above else "<"
        return f"{self.contrast.label} {self.contrast.estimate:+.3g} ({where}) {side} {self.threshold:g}: {verdict}"


@dataclass(frozen=True)
class AtLeast(Judgement):
    """At least ``needed`` of the ``parts`` hold. A conclusion about some unnamed part (one of K holds, or more
    than K - needed fail) is drawn at the Bonferroni level alpha / K; one about every part (all hold, or all
    fail) needs no correction."""

    needed: int
    parts: tuple[Judgement, ...]

    def levels(self, alpha: float) -> tuple[float, float]:
        """The levels at which the parts are read for "holds" and for "fails"."""
        k = len(self.parts)
        return (alpha if self.needed == k else alpha / k), (alpha if self.needed == 1 else alpha / k)

    def verdict(self, alpha: float = 1 - LEVEL) -> bool | None:
        holds_at, fails_at = self.levels(alpha)
        if sum(p.verdict(fails_at) is False for p in self.parts) > len(self.parts) - self.needed:
            return False
        return True if sum(p.verdict(holds_at) is True for p in self.parts) >= self.needed else None

    def evidence(self, alpha: float = 1 - LEVEL) -> str:
        holds_at, _ = self.levels(alpha)
        k = len(self.parts)
        head = "" if self.needed == k else f"at least {self.needed} of {k}, each at the Bonferroni-corrected level: "
        return head + "; ".join(p.evidence(holds_at) for p in self.parts)


@dataclass(frozen=True)
class Unmeasured(Judgement):
    """A claim this run cannot decide, and why (a cell it needs was not measured)."""

    reason: str

    def verdict(self, alpha: float = 1 - LEVEL) -> bool | None:
        return None

    def evidence(self, alpha: float = 1 - LEVEL) -> str:
        return self.reason


def all_of(parts: Sequence[Judgement], empty: str = "nothing was measured to compare") -> Judgement:
    """Every statement holds; undecided, saying ``empty``, when there is none."""
    return AtLeast(len(parts), tuple(parts)) if parts else Unmeasured(empty)


def any_of(parts: Sequence[Judgement], empty: str = "nothing was measured to compare") -> Judgement:
    """At least one statement holds, corrected for the number tried; undecided, saying ``empty``, when there is
    none."""
    return AtLeast(1, tuple(parts)) if parts else Unmeasured(empty)


def at_least_half(parts: Sequence[Judgement], empty: str = "nothing was measured to compare") -> Judgement:
    """At least half of the statements hold, each corrected for the number tried."""
    return AtLeast(math.ceil(len(parts) / 2), tuple(parts)) if parts else Unmeasured(empty)


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


def first_reaching(curve: Mapping[float, Cell], level: float) -> float | None:
    """The smallest size whose mean reaches ``level``; None when none does."""
    reached = [size for size, cell in curve.items() if cell.mean >= level]
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


def matching_factors(
    sizes: Sequence[int], real: Sequence[float], synthetic: Sequence[float], first: int = 2
) -> list[Factor]:
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


# The claims of the experiments, from their measured cells. ``acc`` maps a key to a Cell, as :func:`cells` makes
# it: ``(point, method)``, or ``(*point, method)`` for a point of several fields.


def _key(point: Any, method: Any) -> tuple:
    return (*point, method) if isinstance(point, tuple) else (point, method)


def _name(point: Any) -> str:
    return ", ".join(map(str, point)) if isinstance(point, tuple) else str(point)


def everywhere(
    acc: Mapping[Any, Cell], points: Sequence[Any], a: Any, b: Any, check=greater, what: str = ""
) -> Judgement:
    """``check(a, b)`` at every point (``greater``: a beats b), undecided when a cell was not measured; ``what``
    names a and b in the evidence (``w = 8 - w = 2 at 300``)."""
    missing = sorted({_name(p) for p in points for m in (a, b) if _key(p, m) not in acc})
    if missing or not points:
        return Unmeasured(f"{what}{a} and {what}{b} are not both measured at {missing or 'any point'}")
    return all_of([check(acc[_key(p, a)], acc[_key(p, b)], f"{what}{a} - {what}{b} at {_name(p)}") for p in points])


def ladder_rises(
    acc: Mapping[Any, Cell], points: Sequence[Any], ladder: Sequence[str], weaker: Sequence[str] = ()
) -> Judgement:
    """Accuracy rises along ``ladder`` (weakest first) and its top beats every ``weaker`` row, at every point."""
    if not ladder or len(ladder) + len(weaker) < 2:
        return Unmeasured(f"only {list(ladder) + list(weaker)} measured: a ladder needs two generators")
    return all_of(
        [
            *[everywhere(acc, points, high, low) for low, high in zip(ladder, ladder[1:])],
            *[everywhere(acc, points, ladder[-1], low) for low in weaker],
        ]
    )


def retrieval_adds_nothing(
    acc: Mapping[Any, Cell], points: Sequence[Any], retrieved: Sequence[str], real: str, synthetic: str
) -> Judgement:
    """Each ``retrieved`` column gains nothing over ``real`` (beyond :data:`MARGIN`) and stays below
    ``synthetic``, at every point."""
    if not retrieved:
        return Unmeasured("no retrieval column was measured")
    return all_of(
        [
            *[everywhere(acc, points, c, real, check=no_gain) for c in retrieved],
            *[everywhere(acc, points, synthetic, c) for c in retrieved],
        ]
    )


def matches_real_at_about(real: Cell, synthetic: Mapping[float, Cell], low: float = 2, high: float = 5) -> Judgement:
    """Synthetic data reaches the full real set's accuracy between ``low`` and ``high`` times its size: below it
    at the largest size under ``low``, and at least as good (within :data:`MARGIN`) at the largest size up to
    ``high``."""
    below = [m for m in synthetic if m < low]
    reach = [m for m in synthetic if low <= m <= high]
    if not below or not reach:
        return Unmeasured(
            f"needs synthetic sizes below {low:g}x and between {low:g}x and {high:g}x; measured {sorted(synthetic)}"
        )
    short, enough = max(below), max(reach)
    return all_of(
        [
            less(synthetic[short], real, f"DI at {short:g}x - full real set"),
            at_least(synthetic[enough], real, f"DI at {enough:g}x - full real set"),
        ]
    )


def grows_steadily(curve: Mapping[float, Cell], what: str = "DI") -> Judgement:
    """The largest size beats the smallest, and no step to a larger size falls (beyond :data:`MARGIN`)."""
    sizes = sorted(curve)
    if len(sizes) < 2:
        return Unmeasured(f"one size measured ({sizes}): a growth needs two")
    steps = [at_least(curve[b], curve[a], f"{what} at {b:g}x - at {a:g}x") for a, b in zip(sizes, sizes[1:])]
    return all_of([greater(curve[sizes[-1]], curve[sizes[0]], f"{what} at {sizes[-1]:g}x - at {sizes[0]:g}x"), *steps])


def sizes_of(acc: Mapping[Any, Cell], dataset: str) -> list:
    """The sizes measured on ``dataset`` (keys ``(dataset, size, method)``)."""
    return sorted({size for d, size, _ in acc if d == dataset})


def curve(acc: Mapping[Any, Cell], dataset: str, method: str) -> tuple[list, list[float]]:
    """(sizes, means) of ``method`` on ``dataset`` (keys ``(dataset, size, method)``)."""
    sizes = sorted(size for d, size, m in acc if d == dataset and m == method)
    return sizes, [acc[(dataset, size, method)].mean for size in sizes]


def factor_range(factors: Sequence[Factor]) -> tuple[float, float] | None:
    """The smallest and largest factor the real curve measures (lower bounds left out); None without any."""
    measured = [f.factor for f in factors if not f.lower_bound]
    return (min(measured), max(measured)) if measured else None


def beats_at_sizes(
    acc: Mapping[Any, Cell], datasets: Sequence[str], a: str, b: str, smallest_only: bool = False
) -> Judgement:
    """``a`` beats ``b`` at every size of each dataset, or at its smallest (keys ``(dataset, size, method)``)."""
    points = [(d, n) for d in datasets for n in sizes_of(acc, d)[: 1 if smallest_only else None]]
    return everywhere(acc, points, a, b)


def less_data_for_the_same_accuracy(
    acc: Mapping[Any, Cell], datasets: Sequence[str], a: str, b: str, factor: float = 2, first: int = 2
) -> Judgement:
    """``a`` from n real images is at least as good (within :data:`MARGIN`) as ``b`` from ``factor`` x n, for
    each dataset's ``first`` smallest sizes n, against the smallest measured size of ``b`` at or beyond
    ``factor`` x n (keys ``(dataset, size, method)``)."""
    parts = []
    for d in datasets:
        sizes = sorted(size for dd, size, m in acc if dd == d and m == b)
        for n in sizes[:first]:
            larger = [m for m in sizes if m >= factor * n]
            if not larger:
                parts.append(Unmeasured(f"{d}: no {b} set of {factor:g}x {n} images or more"))
                continue
            parts.append(at_least(acc[(d, n, a)], acc[(d, larger[0], b)], f"{d}: {a} from {n} - {b} from {larger[0]}"))
    return all_of(parts)


def gap_grows(acc: Mapping[Any, Cell], datasets: Sequence[str], a: str, b: str) -> Judgement:
    """On each dataset ``a`` beats ``b`` at every size, and by more at the largest size than at the smallest
    (keys ``(dataset, size, method)``)."""
    parts = []
    for d in datasets:
        sizes = sizes_of(acc, d)
        parts.append(beats_at_sizes(acc, [d], a, b))
        if isinstance(parts[-1], Unmeasured) or len(sizes) < 2:
            continue
        small, large = sizes[0], sizes[-1]
        widening = Contrast(
            (
                (1.0, acc[(d, large, a)]),
                (-1.0, acc[(d, large, b)]),
                (-1.0, acc[(d, small, a)]),
                (1.0, acc[(d, small, b)]),
            ),
            f"{d}: ({a} - {b}) at {large:g} - at {small:g}",
        )
        parts.append(Check(widening, above=True))
    return all_of(parts, empty="no dataset of this kind was measured")


def saturates(
    acc: Mapping[Any, Cell], checkpoints: Sequence[int], strengths: Sequence[float], total_steps: int
) -> Judgement:
    """The accuracy gain from the checkpoint nearest a third of ``total_steps`` (1K of 3K) to the last is below
    the gain from the first to it, averaged over the guidance ``strengths`` (keys ``(checkpoint, w)``; no
    strength is picked on test numbers)."""
    first, last = min(checkpoints), max(checkpoints)
    middle = min(checkpoints, key=lambda c: abs(c - total_steps / 3))
    if not first < middle < last:
        return Unmeasured(f"needs checkpoints before and after {middle}; swept {sorted(checkpoints)}")
    share = 1.0 / len(strengths)
    terms = [
        (weight * share, acc[(c, w)]) for w in strengths for c, weight in ((last, 1.0), (middle, -2.0), (first, 1.0))
    ]
    return Check(Contrast(tuple(terms), f"gain {middle}->{last} - gain {first}->{middle} (mean over w)"), above=False)


def no_setting_beats(acc: Mapping[Any, Cell], settings: Sequence[Any], default: Any, label: str) -> Judgement:
    """No other setting gains over ``default`` beyond :data:`MARGIN` (keys: the settings)."""
    if default not in acc:
        return Unmeasured(f"the default {label} {default} was not measured (measured {sorted(acc)})")
    others = [s for s in settings if s != default]
    return all_of([no_gain(acc[s], acc[default], f"{label} {s} - {label} {default}") for s in others])


def best_at_first_then_some_beats(
    acc: Mapping[Any, Cell], sizes: Sequence[float], strengths: Sequence[float], label: str
) -> Judgement:
    """At 1x the real set no strength gains over 0 (beyond :data:`MARGIN`); at the largest size at least one
    strength above 0 beats 0, corrected for the strengths tried (keys ``(size, strength)``)."""
    if 0.0 not in strengths or 1 not in sizes or max(sizes) <= 1:
        return Unmeasured(f"needs {label} 0 ({sorted(strengths)}) and sizes 1x and larger ({sorted(sizes)})")
    largest, others = max(sizes), [s for s in strengths if s > 0]
    at_one = all_of([no_gain(acc[(1, s)], acc[(1, 0.0)], f"1x: {label} {s:g} - {label} 0") for s in others])
    grown = any_of(
        [greater(acc[(largest, s)], acc[(largest, 0.0)], f"{largest:g}x: {label} {s:g} - {label} 0") for s in others]
    )
    return all_of([at_one, grown])


def better_on_metrics(
    quality: Mapping[Any, Cell], ours: Any, others: Sequence[Any], metrics: Sequence[str]
) -> Judgement:
    """``ours`` scores better than each of ``others`` on every metric (keys ``(*row, metric)``: lower FID/KID,
    higher anything else); a row that was not measured leaves the claim undecided."""
    parts = []
    for other in others:
        missing = [m for m in metrics for row in (ours, other) if _key(row, m) not in quality]
        if missing:
            parts.append(Unmeasured(f"{_name(other)} or {_name(ours)} lacks {sorted(set(missing))}"))
            continue
        parts += [
            better(m, quality[_key(ours, m)], quality[_key(other, m)], f"{m}: {_name(ours)} vs {_name(other)}")
            for m in metrics
        ]
    return all_of(parts)


def degrades(quality: Mapping[Any, Cell], metrics: Sequence[str], low: Any, high: Any, label: str) -> Judgement:
    """Every metric is worse at ``high`` than at ``low`` (keys ``(setting, metric)``: FID rises, the others
    fall)."""
    return all_of(
        [better(m, quality[(low, m)], quality[(high, m)], f"{m}: {label} {low:g} vs {high:g}") for m in metrics]
    )


def peaks_at(curve: Mapping[Any, Cell], peak: Any, label: str) -> Judgement:
    """``peak`` beats every other setting."""
    return all_of([greater(curve[peak], curve[s], f"{label} {peak:g} - {s:g}") for s in curve if s != peak])


def interpolation_helps(acc: Mapping[Any, Cell], sizes: Sequence[float]) -> Judgement:
    """At the largest size alpha = 0.1 beats alpha = 0; at every size alpha = 0.4 is below 0.1 (keys
    ``(size, alpha)``)."""
    named = {0.0, 0.1, 0.4}
    swept = {a for _, a in acc}
    if not named <= swept:
        return Unmeasured(f"the sweep {sorted(swept)} lacks alpha in {sorted(named - swept)}")
    largest = max(sizes)
    return all_of(
        [
            greater(acc[(largest, 0.1)], acc[(largest, 0.0)], f"{largest:g}x: alpha 0.1 - 0"),
            *[less(acc[(k, 0.4)], acc[(k, 0.1)], f"{k:g}x: alpha 0.4 - 0.1") for k in sorted(sizes)],
        ]
    )


def quality_diversity_tradeoff(quality: Mapping[Any, Cell]) -> Judgement:
    """From alpha 0.1 to 0.4 FID rises and precision falls; recall rises from 0 to 0.4; coverage peaks at 0.1
    (keys ``(alpha, metric)``)."""
    swept = {a for a, _ in quality}
    if not {0.0, 0.1, 0.4} <= swept:
        return Unmeasured(f"the sweep {sorted(swept)} lacks alpha in {sorted({0.0, 0.1, 0.4} - swept)}")
    coverage = {a: quality[(a, "coverage")] for a in swept}
    return all_of(
        [
            degrades(quality, ["fid", "precision"], 0.1, 0.4, "alpha"),
            greater(quality[(0.4, "recall")], quality[(0.0, "recall")], "recall: alpha 0.4 - 0"),
            peaks_at(coverage, 0.1, "coverage: alpha"),
        ]
    )


def below_original_less_so_higher(
    acc: Mapping[Any, Cell], original: Any, processed: Sequence[Any], label: str
) -> Judgement:
    """The original beats every processed row (``processed`` in order of rising resolution), and the highest
    resolution loses less than the lowest."""
    return all_of(
        [
            *[greater(acc[original], acc[row], f"{label}: {original} - {row}") for row in processed],
            greater(acc[processed[-1]], acc[processed[0]], f"{label}: {processed[-1]} - {processed[0]}"),
        ]
    )


def mixing_helps_where_generated_underperforms(real: Cell, generated: Cell, mixed: Cell, label: str) -> Judgement:
    """Generated data alone is below real data, and the mix beats both."""
    return all_of(
        [
            less(generated, real, f"{label}: generated only - real only"),
            greater(mixed, real, f"{label}: real + generated - real only"),
            greater(mixed, generated, f"{label}: real + generated - generated only"),
        ]
    )
