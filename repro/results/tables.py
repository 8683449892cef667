"""Result tables: the long-format CSV contract, mean and std over seeds, our cell beside the paper's.

Every notebook writes ``results.csv`` (one row per measured cell and seed: table, row, column, value, unit and
the provenance columns) and, where it tests a claim, ``claims.csv`` (claim, holds, evidence). Nothing here
computes a number of its own: it only aggregates what the run measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from ..errors import ReproError
from ..files import read_damageable
from ..workflow.notebook import CLAIMS_CSV, RESULTS_CSV
from ..workflow.registry import Experiment

KEY = ["table", "row", "column"]
#: how a claim's evidence writes a comparison of one seed, which has no interval (``repro.experiments.claims``), and
#: how it writes a confidence interval: the report tells an undecided claim's reason from them
NO_INTERVAL = "1 seed: no interval"
INTERVAL = "% CI ["


def _rerun(path: Path) -> str:
    return f"run its experiment again (delete {path.parent} and rerun snakemake, or `repro run {path.parent.name}`)"


def _read_table(path: Path, what: str) -> pd.DataFrame:
    # hashes stay text: 12 hex digits that happen to read as a number (leading zeros, an 'e') would change
    read = partial(pd.read_csv, dtype={"git_commit": str, "config_hash": str})
    return read_damageable(path, read, what, _rerun(path))


def load_results(folder: Path) -> pd.DataFrame | None:
    path = Path(folder) / RESULTS_CSV
    if not path.exists():
        return None
    frame = _read_table(path, "the result table")
    missing = [c for c in KEY + ["value"] if c not in frame.columns]
    if missing:
        raise ReproError(f"the result table {path} lacks the columns {missing} the report needs; {_rerun(path)}")
    return frame


def load_claims(folder: Path) -> pd.DataFrame | None:
    path = Path(folder) / CLAIMS_CSV
    return _read_table(path, "the claims table") if path.exists() else None


def _key_strings(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in KEY:
        frame[column] = frame[column].map(lambda v: format(v, "g") if isinstance(v, float) else str(v))
    return frame


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and number of seeds per (table, row, column), in first-seen order."""
    results = _key_strings(results)
    unit = results["unit"] if "unit" in results else pd.Series("", index=results.index)
    grouped = results.assign(unit=unit.fillna("")).groupby(KEY + ["unit"], sort=False)["value"]
    summary = grouped.agg(mean="mean", std="std", seeds="count").reset_index()
    summary["std"] = summary["std"].where(summary["seeds"] > 1)
    return summary


def beside_paper(experiment: Experiment, summary: pd.DataFrame | None) -> pd.DataFrame:
    """One row per cell that either side reports: the paper's value (and ±) beside ours (mean ± std, seeds)."""
    paper = pd.DataFrame(experiment.paper_numbers or [], columns=KEY + ["value", "std", "unit", "where"])
    paper = _key_strings(paper).rename(columns={"value": "paper", "std": "paper_std", "unit": "paper_unit"})
    ours = summary if summary is not None else pd.DataFrame(columns=KEY + ["unit", "mean", "std", "seeds"])
    ours = ours.rename(columns={"mean": "ours", "std": "ours_std"})
    # an outer merge sorts its keys whatever `sort` says: keep the order in which the run recorded its cells,
    # then the paper's cells that have no measured counterpart, in the registry's order
    ours["_order"] = range(len(ours))
    paper["_order"] = range(len(ours), len(ours) + len(paper))
    merged = ours.merge(paper, on=KEY, how="outer", suffixes=("", "_paper"))
    merged["_order"] = merged["_order"].fillna(merged.pop("_order_paper"))
    merged = merged.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    merged["unit"] = merged["unit"].fillna(merged["paper_unit"]).fillna("")
    return merged[KEY + ["unit", "ours", "ours_std", "seeds", "paper", "paper_std", "where"]]


def claim_text(claim: dict) -> str:
    """A claim as the report states it: an extension of this suite says so, never passing for the paper's."""
    return claim["text"] + (" [extension of this suite, not a claim of the paper]"
                            if claim.get("source") == "extension" else "")


def conventions(experiment: Experiment, scale: str) -> list[str]:
    """The conventions an artifact's numbers follow at ``scale``, as its page states them."""
    if experiment.skip_reason(scale):
        return []
    params = experiment.params(scale)
    found = []
    if "guidance" in params:
        found.append("Guidance: every w follows the paper's text, eps = (1 + w) eps(c) - w eps(u) (diffusers' "
                     "guidance_scale is 1 + w); a row or column at w = 1 is the value of the authors' released code "
                     "(guidance_scale 2).")
    if "metric_convention" in params:
        found.append(f"Image metrics: the {params['metric_convention']} convention on {params['features']} "
                     "features (config/experiments/README.md, metric_convention); each unit names the features, "
                     "and for precision, recall, density and coverage the k of their neighbourhoods.")
    return found


@dataclass(frozen=True)
class Status:
    """What the status table says of one artifact at one scale."""

    label: str  # reproduced | differs | ran | failed | not run at this scale | no notebook yet | not run yet
    detail: str = ""


def artifact_status(experiment: Experiment, scale: str, folder: Path, failed_log: Path | None = None) -> Status:
    skip = experiment.skip_reason(scale)
    if skip:
        return Status("not run at this scale", skip)
    if not experiment.notebook.exists():
        return Status("no notebook yet", f"notebooks/{experiment.notebook.name} is not written yet")
    if failed_log is not None and failed_log.exists():
        return Status("failed", f"the notebook raised; executed copy with the traceback: {failed_log}")
    if load_results(folder) is None:
        return Status("not run yet", f"no {RESULTS_CSV} in {folder}; run the workflow at scale {scale}")
    claims = load_claims(folder)
    if claims is None or claims.empty:
        return Status("ran", "no claim of the paper is tested by this artifact")
    verdicts = claims["holds"].astype(str).str.lower()
    decided = verdicts.isin(["true", "false"])
    holds = int(verdicts.eq("true").sum())
    undecided = f"; {int((~decided).sum())} undecided at this scale" if not decided.all() else ""
    if not decided.any():
        return Status("ran", f"no claim could be decided at this scale ({int((~decided).sum())} undecided)")
    if holds == int(decided.sum()):
        return Status("reproduced", f"{holds} of {int(decided.sum())} decided claims hold{undecided}")
    return Status("differs", f"{holds} of {int(decided.sum())} decided claims hold{undecided}")
