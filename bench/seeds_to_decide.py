"""How many seeds each undecided statement of a scale's claims would need, at the effect and spread it measured.

A claim is decided when the t interval of each of its contrasts lies wholly on one side of its threshold
(``repro.experiments.claims``). This reads the statements a run recorded as undecided in
``results/<scale>/<id>/claims.csv`` (``label +est (95% CI [lo, hi]) > threshold: undecided``) and the number n of
seeds its cells had (the distinct seeds of the experiment's ``results.csv``). With the estimate and the per-seed
spread as measured, the standard error at k seeds per cell is the measured one times sqrt(n / k), and the statement
is decided once ``t(df_k) * se_k < |estimate - threshold|``. ``df`` is the Welch degrees of freedom of two cells of
equal spread, 2 (k - 1): exact for a difference of two cells that vary alike, an approximation otherwise (a cell
that varies more, or a difference of differences). A planning figure, then: which claims more seeds could decide
within a run's budget, and which show an effect too small for any affordable number of seeds (over ``--max-seeds``:
empty). A statement read at a Bonferroni-corrected level (``at least 1 of K``) is costed at its own level.

    python bench/seeds_to_decide.py results/mini                     # every undecided statement, then per claim
    python bench/seeds_to_decide.py results/mini --out /tmp/seeds.csv --max-seeds 50

Per claim, the seeds to decide every undecided statement (the largest); for a claim that needs only one of them
(``at least 1 of K``) the smallest would do, which the statements' rows show.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import pandas as pd
from scipy import stats

from repro.errors import ReproError

NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?"
#: one undecided statement of a claim's evidence, as ``repro.experiments.claims.Check.evidence`` writes it
STATEMENT = re.compile(
    rf"(?:^|; |: )(?P<label>[^;]*?) (?P<estimate>{NUMBER}) \((?P<level>{NUMBER})% CI \[(?P<low>{NUMBER}), "
    rf"(?P<high>{NUMBER})\]\) (?P<side>[<>]) (?P<threshold>{NUMBER}): undecided"
)


#: the head of a claim that needs only some of its statements (``claims.AtLeast``), not part of a statement's label
CORRECTED = re.compile(r"^at least \d+ of \d+, each at the Bonferroni-corrected level: ")


def undecided_statements(evidence: str) -> list[dict]:
    """The undecided statements of one claim's evidence, with their numbers."""
    found = []
    for match in STATEMENT.finditer(evidence):
        row = {k: float(v) for k, v in match.groupdict().items() if k not in ("label", "side")}
        found.append({"statement": CORRECTED.sub("", match["label"].strip()), "side": match["side"], **row})
    return found


def seeds_to_decide(
    estimate: float, low: float, high: float, threshold: float, level: float, seeds: int, max_seeds: int
) -> int | None:
    """The fewest seeds per cell whose interval, at the measured estimate and spread, excludes the threshold."""
    if seeds < 2:
        raise ReproError(f"an interval needs at least two seeds per cell, not {seeds}")
    quantile = 1 - (1 - level / 100) / 2
    standard_error = (high - low) / 2 / stats.t.ppf(quantile, 2 * (seeds - 1))
    gap = abs(estimate - threshold)
    for k in range(seeds, max_seeds + 1):
        if stats.t.ppf(quantile, 2 * (k - 1)) * standard_error * math.sqrt(seeds / k) < gap:
            return k
    return None


def measured_seeds(folder: Path) -> int:
    """The distinct seeds of an experiment's rows: the number each of its cells was measured with."""
    seeds = pd.read_csv(folder / "results.csv", usecols=["seed"])["seed"].dropna().unique()
    return len(seeds)


def table(results: Path, max_seeds: int) -> pd.DataFrame:
    if not results.is_dir():
        raise ReproError(f"no results folder {results}: name a scale's, e.g. results/mini")
    rows = []
    for claims_file in sorted(results.glob("*/claims.csv")):
        folder = claims_file.parent
        claims = pd.read_csv(claims_file)
        undecided = claims[claims["holds"].isna()]
        if undecided.empty:
            continue
        seeds = measured_seeds(folder)
        for claim, evidence in zip(undecided["claim"], undecided["evidence"].astype(str)):
            for statement in undecided_statements(evidence):
                needed = seeds_to_decide(
                    statement["estimate"],
                    statement["low"],
                    statement["high"],
                    statement["threshold"],
                    statement["level"],
                    seeds,
                    max_seeds,
                )
                rows.append(
                    {"experiment": folder.name, "claim": claim, **statement, "seeds": seeds, "seeds_to_decide": needed}
                )
    if not rows:
        raise ReproError(f"no undecided statement with an interval under {results}/*/claims.csv")
    return pd.DataFrame(rows).astype({"seeds_to_decide": "Int64"})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="a scale's results folder, e.g. results/mini")
    p.add_argument("--max-seeds", type=int, default=100, help="count up to this many seeds per cell")
    p.add_argument("--out", type=Path, help="also write the statements' table as CSV here")
    args = p.parse_args(argv)
    try:
        statements = table(args.results, args.max_seeds)
    except ReproError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.out:
        statements.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60, "display.max_rows", None):
        print(
            statements[
                ["experiment", "claim", "statement", "estimate", "low", "high", "seeds", "seeds_to_decide"]
            ].to_string(index=False)
        )
        per_claim = statements.groupby(["experiment", "claim"], sort=False).agg(
            seeds=("seeds", "first"),
            undecided=("statement", "size"),
            seeds_to_decide_all=("seeds_to_decide", lambda s: s.max() if s.notna().all() else pd.NA),
        )
        print(f"\nper claim (every undecided statement decided; empty: some need over {args.max_seeds} seeds):")
        print(per_claim.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
