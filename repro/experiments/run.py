"""The run context of one experiment notebook.

A notebook builds one ``ExperimentRun`` from its papermill parameters, records every measured cell with
``record`` (long format: table, row, column, value, unit, seed) and every tested claim with ``claim``, and
calls ``save``. The CSVs carry the provenance columns, so the report can trace every number to this run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..paths import DATA_ENV
from ..provenance import Provenance, write_rows
from ..results.tables import summarise
from ..workflow.notebook import CLAIMS_CSV, RESULTS_CSV


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        from ..errors import ReproError

        raise ReproError("device 'cuda' was asked for but no GPU is visible; use --config device=auto or cpu")
    return device


class ExperimentRun:
    """Collects result rows and claim verdicts of one notebook run, and writes them with provenance."""

    def __init__(self, experiment: str, scale: str, out_dir: str | os.PathLike, params: Mapping[str, Any],
                 data_root: str = "", device: str = "auto", generator: str = "", dataset: str = ""):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if data_root:
            os.environ[DATA_ENV] = data_root  # the data layer reads it; the notebook's parameter wins
        self.device = resolve_device(device)
        self.provenance = Provenance(experiment, scale, dict(params), generator=generator, dataset=dataset)
        self.rows: list[dict] = []
        self.claims: list[dict] = []

    def record(self, *, table: str, row: Any, column: Any, value: float, unit: str = "", seed: int | None = None,
               wall_seconds: float | None = None, **fields: Any) -> dict:
        """One measured cell of one seed."""
        entry = self.provenance.row(seed=seed, wall_seconds=wall_seconds, table=table, row=row, column=column,
                                    value=float(value), unit=unit, **fields)
        self.rows.append(entry)
        return entry

    def claim(self, claim_id: str, holds: bool, evidence: str) -> None:
        """The verdict on one claim of the registry, with the numbers that decided it."""
        self.claims.append(self.provenance.row(claim=claim_id, holds=bool(holds), evidence=evidence))

    def summary(self) -> pd.DataFrame:
        """Mean, std and seed count per cell of what has been recorded so far."""
        return summarise(pd.DataFrame(self.rows))

    def mean(self, table: str, row: Any, column: Any) -> float:
        """The mean over seeds of one recorded cell."""
        values = [r["value"] for r in self.rows
                  if r["table"] == table and str(r["row"]) == str(row) and str(r["column"]) == str(column)]
        if not values:
            raise KeyError(f"no recorded cell ({table}, {row}, {column})")
        return sum(values) / len(values)

    def figure(self, fig, name: str) -> Path:
        path = self.out_dir / f"{name}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        return path

    def save(self) -> Path:
        if not self.rows:
            raise ValueError("the notebook recorded no result; record() each measured cell before save()")
        write_rows(self.rows, self.out_dir / RESULTS_CSV)
        if self.claims:
            write_rows(self.claims, self.out_dir / CLAIMS_CSV)
        return self.out_dir / RESULTS_CSV
