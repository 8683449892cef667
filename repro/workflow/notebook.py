"""Execute one experiment's notebook with papermill, at one scale, keeping the executed copy.

Notebooks are jupytext percent files (``notebooks/<name>.py``) with one cell tagged ``parameters``, which
defines the run context alone. The runner injects, after it, the registry's parameters for the scale and the
run's context (experiment id, scale, output folder, data folder, work folder, device, config folder), as
papermill does, and executes the result. A notebook that raises keeps its executed copy, traceback
included, at the ``failed`` path, and the rows it had recorded beside it (``<failed stem>.partial.csv``): the
workflow deletes the output folder of a failed job. The error names both.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ReproError
from .jobstats import kernel_arguments
from .registry import Experiment

#: Contract between the runner, the notebooks and the report: what every notebook writes into ``out_dir``.
RESULTS_CSV = "results.csv"  # long format: table, row, column, value, unit + provenance columns
CLAIMS_CSV = "claims.csv"  # claim, holds (True/False), ours, evidence + provenance columns
PARTIAL_CSV = "results.partial.csv"  # the rows recorded so far, while the notebook runs
#: the run context, all that a notebook's parameters cell defines; its runner (``repro run``, the workflow, ``repro
#: notebook``) injects it with the registry's params for the scale. ``config_dir`` is the project's config folder,
#: where the run finds its registry entry: empty in the cell, so a notebook opened without its runner says so.
CONTEXT = ("experiment", "scale", "out_dir", "data_root", "work_dir", "device", "config_dir")


def notebook_parameters(
    experiment: Experiment, scale: str, out_dir: Path, config: Mapping[str, Any] | None = None
) -> dict:
    """Registry parameters for ``scale`` plus the run context every notebook receives (and the project's config
    folder, where the notebook's run finds its registry entry)."""
    config = dict(config or {})
    params = experiment.params(scale)
    if config.get("seeds"):
        params["seeds"] = list(config["seeds"])
    params.update(
        experiment=experiment.id,
        scale=scale,
        out_dir=str(out_dir),
        # absolute: the notebook runs in its output folder, where a relative ../shared/data means something else
        data_root=_absolute(config.get("data_root") or os.environ.get("REPRO_DATA", "")),
        work_dir=str(Path(config.get("work_dir", "work")).resolve() / scale),
        device=config.get("device", "auto"),
        config_dir=str(experiment.root.resolve() / "config"),
    )
    return params


def ran_with(executed: Path) -> dict | None:
    """The registry parameters an executed notebook ran with, its run context left out: papermill keeps what was
    injected in the notebook's metadata. None where there is no such notebook or record."""
    import nbformat

    if not Path(executed).exists():
        return None
    try:
        injected = nbformat.read(executed, as_version=4).metadata.get("papermill", {}).get("parameters")
    except Exception:  # a damaged copy tells nothing; the caller says what it can without it
        return None
    return None if injected is None else {k: v for k, v in injected.items() if k not in CONTEXT}


def _absolute(folder: str) -> str:
    return str(Path(folder).expanduser().resolve()) if folder else ""


def injected_notebook(experiment: Experiment, scale: str, out_dir: Path, config: Mapping[str, Any] | None = None):
    """The experiment's notebook with :func:`notebook_parameters` injected in a cell tagged
    ``injected-parameters`` after its parameters cell (papermill's own injection), not yet run."""
    from papermill.parameterize import parameterize_notebook

    notebook = read_notebook(experiment.notebook)
    # what papermill's own runner sets up before it injects: a metadata slot and a tag list on every cell
    notebook.metadata.setdefault("papermill", {})
    for cell in notebook.cells:
        cell.metadata.setdefault("tags", [])
    return parameterize_notebook(notebook, notebook_parameters(experiment, scale, out_dir, config))


def read_notebook(source: Path):
    """The jupytext notebook ``source`` as an nbformat notebook, checked to have its ``parameters`` cell."""
    import jupytext

    if not source.exists():
        raise ReproError(
            f"notebook {source} does not exist; create it (jupytext percent format) or fix the "
            "registry's `notebook` key"
        )
    notebook = jupytext.read(source)
    if not any("parameters" in cell.metadata.get("tags", []) for cell in notebook.cells):
        raise ReproError(
            f"notebook {source} has no cell tagged `parameters`; mark one with "
            '`# %% tags=["parameters"]` so papermill can inject the scale\'s parameters'
        )
    notebook.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    return notebook


def run_notebook(
    experiment: Experiment,
    scale: str,
    out_dir: str | Path,
    executed: str | Path,
    failed: str | Path | None = None,
    config: Mapping[str, Any] | None = None,
) -> Path:
    """Execute the notebook; write the executed copy to ``executed`` (or to ``failed`` if it raised)."""
    import nbformat
    import papermill

    out_dir, executed = Path(out_dir).resolve(), Path(executed).resolve()
    failed = Path(failed).resolve() if failed else executed.with_suffix(".failed.ipynb")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{experiment.notebook.stem}.ipynb"
        # injected here, not by papermill, which would warn of every parameter the parameters cell does not define
        nbformat.write(injected_notebook(experiment, scale, out_dir, config), source)
        attempt = Path(tmp) / "executed.ipynb"
        try:
            papermill.execute_notebook(
                str(source),
                str(attempt),
                cwd=str(out_dir),
                progress_bar=False,
                kernel_name="python3",
                extra_arguments=kernel_arguments(),  # the kernel records its GPU peak for the workflow's job
            )
        except papermill.PapermillExecutionError as err:
            failed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(attempt, failed)
            kept = ""
            if (out_dir / PARTIAL_CSV).exists():
                shutil.copyfile(out_dir / PARTIAL_CSV, _partial_rows(failed))
                kept = f", the rows it had measured are {_partial_rows(failed)}"
            raise ReproError(
                f"notebook {experiment.notebook.name} ({experiment.id}, scale {scale}) raised {err.ename}: "
                f"{err.evalue}; the executed copy with the traceback is {failed}{kept}"
            ) from None
        executed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(attempt, executed)
    # an earlier failure is superseded by this success
    failed.unlink(missing_ok=True)
    _partial_rows(failed).unlink(missing_ok=True)
    return executed


def _partial_rows(failed: Path) -> Path:
    """Where a failed run's recorded rows are kept: beside its executed copy."""
    return failed.with_name(failed.name.removesuffix(".ipynb") + ".partial.csv")
