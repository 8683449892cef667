"""`repro notebook`: a notebook prepared for JupyterLab carries the scale's parameters and the run context, sends
its results to its own folder, points `mini` where the workflow does, and runs as Jupyter runs it."""

from __future__ import annotations

import shutil

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from repro.cli import main
from repro.workflow.prepare import prepare_notebook
from repro.workflow.registry import load_registry
from tests.conftest import REPO


def tagged(notebook, tag):
    return [c for c in notebook.cells if tag in c.metadata.get("tags", [])]


def run_all(path):
    """Execute a notebook as JupyterLab's "Run All" does: a kernel started in the notebook's folder."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()


def test_a_prepared_notebook_runs_like_the_workflows_and_writes_beside_itself(demo_project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    demo = load_registry(demo_project / "config")["di_demo"]
    prepared = prepare_notebook(demo, "mini", tmp_path / "nb" / "mini", {"work_dir": "work", "device": "cpu"})
    notebook = nbformat.read(prepared.notebook, as_version=4)
    (injected,) = tagged(notebook, "injected-parameters")
    given = {}
    exec(injected.source, given)
    assert given["sizes"] == [1, 2, 4] and given["out_dir"] == str(tmp_path / "nb" / "mini" / "di_demo")
    assert given["config_dir"] == str(demo_project / "config") and given["work_dir"] == str(tmp_path / "work" / "mini")
    assert not tagged(notebook, "injected-environment")  # mini reads the committed generator

    run_all(prepared.notebook)

    results = pd.read_csv(prepared.out_dir / "results.csv")
    assert sorted(results["row"].unique()) == [1, 2, 4] and (results["scale"] == "mini").all()
    assert not (demo_project / "results").exists()


def test_at_smoke_scale_the_notebook_uses_the_dags_generator_and_names_missing_assets(
    demo_project, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(demo_project)
    assert main(["notebook", "di_demo", "--scale", "smoke", "--work-dir", "w"]) == 0
    printed = capsys.readouterr().out
    path = demo_project / "w" / "notebooks" / "smoke" / "di_demo.ipynb"
    (environment,) = tagged(nbformat.read(path, as_version=4), "injected-environment")
    assert f'"{demo_project / "w" / "smoke" / "assets" / "generator" / "mini"}"' in environment.source
    assert "snakemake --cores all w/smoke/assets/generator" in printed
    assert "jupyter lab w/notebooks/smoke/di_demo.ipynb" in printed


def test_jupyterlab_opens_each_notebook_file_as_a_notebook_and_saves_its_cells_back(tmp_path):
    """What JupyterLab does with jupytext installed (the `notebook` extra): load notebooks/<id>.py through
    jupytext's contents manager, as a notebook with its parameters cell; saving writes the same cells back
    (jupytext adds its version to the header)."""
    jupytext = pytest.importorskip("jupytext")
    pytest.importorskip("jupyter_server", reason="JupyterLab is not installed (pip install -e '.[notebook]')")
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    manager = jupytext.TextFileContentsManager(root_dir=str(tmp_path))
    for source in sorted((REPO / "notebooks").glob("*.py")):
        path = f"notebooks/{source.name}"
        model = manager.get(path)
        assert model["type"] == "notebook" and tagged(nbformat.from_dict(model["content"]), "parameters"), path
        manager.save(model, path)
        saved, original = jupytext.read(tmp_path / path), jupytext.read(source)
        assert [(c.cell_type, c.source, c.metadata) for c in saved.cells] == [
            (c.cell_type, c.source, c.metadata) for c in original.cells
        ], path
