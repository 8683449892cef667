"""``repro notebook ID --scale S``: prepare an experiment's notebook for interactive work in JupyterLab.

The workflow executes ``notebooks/<id>.py`` with papermill after injecting the scale's parameters and the run
context. This writes that same notebook, with the same injected cell, to ``work/notebooks/<scale>/<id>.ipynb``
without running it. Its results go to ``work/notebooks/<scale>/<id>/`` (never into ``results/``, whose
folders the workflow owns), and it reads the scale's shared assets from ``work/<scale>/assets/``, as the
workflow's job does; where the scale pretrains its own ``mini`` generator, a second injected cell points the
kernel at it, as the workflow points its jobs. Open it with ``jupyter lab work/notebooks/<scale>/<id>.ipynb``.
Changes to the code belong in ``notebooks/<id>.py`` (JupyterLab opens it as a notebook through jupytext);
prepare again to pick them up.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..generators.bundle import MINI_ENV
from .cli import add_run_arguments, experiment_and_config
from .notebook import injected_notebook
from .registry import Experiment, load_scale, needed_assets, work_path


@dataclass(frozen=True)
class Prepared:
    notebook: Path
    out_dir: Path
    assets: dict[str, bool]  # asset folder -> built


def prepare_notebook(experiment: Experiment, scale: str, folder: Path, config: Mapping[str, Any]) -> Prepared:
    """Write ``folder/<id>.ipynb`` with the parameters of ``scale`` injected; its outputs go to ``folder/<id>/``."""
    import nbformat

    folder = Path(folder).resolve()
    out_dir = folder / experiment.id
    notebook = injected_notebook(experiment, scale, out_dir, config)
    spec = load_scale(experiment.root / "config", scale)
    work = Path(config.get("work_dir", "work")).resolve() / scale
    if "mini_generator" in spec:
        cell = nbformat.v4.new_code_cell(
            "# The generator the workflow gives this scale's jobs as `mini` (prepared by `repro notebook`)\n"
            f"import os\n\nos.environ[{MINI_ENV!r}] = {json.dumps(work_path(spec['mini_generator'], work))}"
        )
        cell.metadata["tags"] = ["injected-environment"]
        injected = next(i for i, c in enumerate(notebook.cells) if "injected-parameters" in c.metadata.get("tags", []))
        notebook.cells.insert(injected + 1, cell)
    path = folder / f"{experiment.id}.ipynb"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    assets = {
        str(work / "assets" / name): (work / "assets" / name).is_dir()
        for name in needed_assets(experiment, scale, spec)
    }
    return Prepared(path, out_dir, assets)


def configure(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument(
        "--dest", default=None, help="folder of the prepared notebooks (default: work/notebooks/<scale>)"
    )


def run(args: argparse.Namespace) -> int:
    experiment, config = experiment_and_config(args)
    scale = config["scale"]
    folder = Path(args.dest or Path(config["work_dir"]) / "notebooks" / scale)
    prepared = prepare_notebook(experiment, scale, folder, config)
    print(
        f"{experiment.id} at scale {scale}: {os.path.relpath(prepared.notebook)} (its results go to "
        f"{os.path.relpath(prepared.out_dir)})"
    )
    missing = [asset for asset, built in prepared.assets.items() if not built]
    if missing:
        print("build the assets it reads first: snakemake --cores all " + " ".join(os.path.relpath(m) for m in missing))
    print(f"then: jupyter lab {os.path.relpath(prepared.notebook)}")
    return 0
