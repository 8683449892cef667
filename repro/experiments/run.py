"""The run context of one experiment notebook.

A notebook builds one ``ExperimentRun`` from its papermill parameters, records every measured cell with
``record`` (long format: table, row, column, value, unit, seed) and every tested claim with ``claim``, and
calls ``save``. The CSVs carry the provenance columns, so the report can trace every number to this run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..paths import DATA_ENV
from ..provenance import Provenance, write_rows
from ..results.tables import summarise
from ..workflow.jobstats import record_gpu_peak_now
from ..workflow.notebook import CLAIMS_CSV, CONTEXT, PARTIAL_CSV, RESULTS_CSV
from .assets import Assets


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

    def __init__(
        self,
        experiment: str,
        scale: str,
        out_dir: str | os.PathLike,
        params: Mapping[str, Any],
        data_root: str = "",
        device: str = "auto",
        generator: str = "",
        dataset: str = "",
        work_dir: str | os.PathLike = "",
        config_dir: str | os.PathLike = "",
    ):
        self.experiment, self.scale, self.params = experiment, scale, dict(params)
        # the experiment's registry entry (its claims), read from the project's config folder; None for a run
        # outside a project (no config_dir), which then records claims unchecked
        self.entry = _registry_entry(config_dir, experiment) if config_dir else None
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # a new run replaces the last one's outputs: no earlier claim or figure may outlive it into the report
        for stale in [RESULTS_CSV, CLAIMS_CSV, PARTIAL_CSV, *(p.name for p in self.out_dir.glob("*.png"))]:
            (self.out_dir / stale).unlink(missing_ok=True)
        if data_root:
            os.environ[DATA_ENV] = data_root  # the data layer reads it; the notebook's parameter wins
        self.data_root = data_root or os.environ.get(DATA_ENV, "")
        self.device = resolve_device(device)
        self.work_dir = Path(work_dir or Path("work") / scale)
        self.assets = Assets(self.work_dir, scale)
        self.provenance = Provenance(experiment, scale, dict(params), generator=generator, dataset=dataset)
        self.rows: list[dict] = []
        self.claims: list[dict] = []

    @classmethod
    def from_globals(cls, namespace: Mapping[str, Any], dataset_param: str = "") -> ExperimentRun:
        """The run of a notebook: its context and the registry's parameters for its scale, read from the notebook's
        namespace, where its runner injected them. ``dataset_param`` names the param whose value the rows'
        ``dataset`` column carries."""
        from ..errors import ReproError

        experiment = namespace.get("experiment", "<id>")
        how = (
            f"run it with `repro run {experiment} --scale smoke`, or prepare it for JupyterLab with `repro notebook "
            f"{experiment} --scale smoke` and open the prepared copy"
        )
        if any(name not in namespace for name in CONTEXT) or not namespace["config_dir"]:
            raise ReproError(
                f"this notebook was not given its parameters (its runner injects them from the registry): {how}"
            )
        scale = namespace["scale"]
        names = list(_registry_entry(namespace["config_dir"], experiment).params(scale))
        missing = [name for name in names if name not in namespace]
        if missing:
            raise ReproError(
                f"config/experiments/{experiment}.yaml gives {missing} at scale {scale}, which were not injected: {how}"
            )
        params = {name: namespace[name] for name in names}
        from ..generators.bundle import generator_label

        return cls(
            experiment,
            scale,
            namespace["out_dir"],
            params,
            data_root=namespace["data_root"],
            device=namespace["device"],
            generator=generator_label(params["generator"]) if params.get("generator") else "",
            dataset=str(params[dataset_param]) if dataset_param else "",
            work_dir=namespace["work_dir"],
            config_dir=namespace["config_dir"],
        )

    def frame(self) -> pd.DataFrame:
        """Every row recorded so far."""
        return pd.DataFrame(self.rows)

    def scratch(self, name: str, settings: Mapping[str, Any] | None = None) -> Path:
        """A folder of this experiment's own intermediate work (resumed by a rerun): work/<scale>/<id>/<name>.

        ``settings`` (what decides the folder's content) add their hash to the name, so a rerun with a changed
        knob computes into a new folder instead of meeting the old one's refusal, and changing it back reuses it.
        """
        from ..provenance import config_hash

        path = self.work_dir / self.experiment / (name if settings is None else f"{name}-{config_hash(settings)}")
        path.mkdir(parents=True, exist_ok=True)
        return path

    def data_file(self, relative: str) -> Path:
        """A file of the data folder (third-party weights such as models/akamaster-...th)."""
        from ..errors import ReproError

        if not self.data_root:
            raise ReproError(f"{relative} lives in the data folder, but none is set; pass data_root or set ${DATA_ENV}")
        path = Path(self.data_root) / relative
        if not path.exists():
            raise ReproError(f"{path} is missing from the data folder {self.data_root}")
        return path

    def record(
        self,
        *,
        table: str,
        row: Any,
        column: Any,
        value: float,
        unit: str = "",
        seed: int | None = None,
        wall_seconds: float | None = None,
        **fields: Any,
    ) -> dict:
        """One measured cell of one seed."""
        entry = self.provenance.row(
            seed=seed,
            wall_seconds=wall_seconds,
            table=table,
            row=row,
            column=column,
            value=float(value),
            unit=unit,
            **fields,
        )
        self.rows.append(entry)
        # kept as it grows, so a notebook that fails later loses none of the cells already measured
        write_rows(self.rows, self.out_dir / PARTIAL_CSV)
        return entry

    def claim(self, claim_id: str, holds: bool | None, evidence: str) -> None:
        """The verdict on one claim of the registry, with the numbers that decided it; ``holds=None`` when this
        scale cannot decide it (the evidence says why), which the report shows as undecided."""
        known = None if self.entry is None else {c["id"] for c in self.entry.claims}
        if known is not None and claim_id not in known:
            from ..errors import ReproError

            raise ReproError(
                f"claim {claim_id!r} is not in config/experiments/{self.experiment}.yaml (its claims: {sorted(known)})"
            )
        verdict = "" if holds is None else bool(holds)
        self.claims.append(self.provenance.row(claim=claim_id, holds=verdict, evidence=evidence))

    def judge(self, claim_id: str, judgement, note: str = "") -> None:
        """The verdict on one claim by the suite's one rule (:mod:`.claims`): ``judgement`` holds, fails or is
        undecided, and its comparisons are the evidence; ``note`` adds what the comparisons do not say."""
        from .claims import decide

        holds, evidence = decide(judgement)
        self.claim(claim_id, holds, evidence + (f"; {note}" if note else ""))

    def summary(self) -> pd.DataFrame:
        """Mean, std and seed count per cell of what has been recorded so far."""
        return summarise(pd.DataFrame(self.rows))

    def cell(self, table: str, row: Any = None, column: Any = None, **fields: Any):
        """The per-seed values (and anything else unnamed) of the recorded rows matching the given keys, as the
        :class:`.claims.Cell` a claim compares."""
        from .claims import Cell

        wanted = {"table": table, "row": row, "column": column, **fields}
        wanted = {k: str(v) for k, v in wanted.items() if v is not None}
        values = [r["value"] for r in self.rows if all(str(r.get(k)) == v for k, v in wanted.items())]
        if not values:
            raise KeyError(f"no recorded cell matches {wanted}")
        return Cell(tuple(float(v) for v in values))

    def mean(self, table: str, row: Any = None, column: Any = None, **fields: Any) -> float:
        """The mean over seeds (and anything else unnamed) of the recorded rows matching the given keys."""
        return self.cell(table, row, column, **fields).mean

    def figure(self, fig, name: str) -> Path:
        path = self.out_dir / f"{name}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        return path

    def save(self) -> Path:
        if not self.rows:
            raise ValueError("the notebook recorded no result; record() each measured cell before save()")
        if self.claims:
            write_rows(self.claims, self.out_dir / CLAIMS_CSV)
        write_rows(self.rows, self.out_dir / RESULTS_CSV)
        (self.out_dir / PARTIAL_CSV).unlink(missing_ok=True)
        record_gpu_peak_now()  # the workflow job's GPU peak: the kernel may not live to its exit hooks
        return self.out_dir / RESULTS_CSV


def _registry_entry(config_dir: str | os.PathLike, experiment: str):
    from ..errors import ReproError
    from ..workflow.registry import load_registry

    registry = load_registry(Path(config_dir))
    if experiment not in registry:
        raise ReproError(
            f"experiment {experiment!r} is not in the registry {Path(config_dir) / 'experiments'}; "
            f"its ids: {', '.join(registry)}"
        )
    return registry[experiment]
