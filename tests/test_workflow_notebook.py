"""Papermill runs a registry notebook with the scale's parameters; a failing notebook keeps its traceback."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

from repro.errors import ReproError
from repro.provenance import PROVENANCE_COLUMNS
from repro.report import render_report
from repro.workflow.notebook import run_notebook
from repro.workflow.registry import load_registry


@pytest.fixture
def demo(demo_project):
    return load_registry(demo_project / "config")["di_demo"]


def test_notebook_runs_with_scale_parameters(demo, tmp_path, caplog):
    out = tmp_path / "results" / "mini" / "di_demo"
    with caplog.at_level(logging.WARNING, logger="papermill"):
        executed = run_notebook(demo, "mini", out, out / "di_demo.ipynb", config={"seeds": [], "device": "cpu"})
    assert "unknown parameter" not in caplog.text  # the parameters cell holds the context, the rest is injected
    results = pd.read_csv(out / "results.csv")
    assert sorted(results["row"].unique()) == [1, 2, 4]  # the mini scale's sizes
    assert sorted(results["seed"].unique()) == [0, 1, 2]
    assert set(PROVENANCE_COLUMNS) <= set(results.columns)
    assert (results["scale"] == "mini").all()
    cells = json.loads(executed.read_text())["cells"]
    injected = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "sizes = [1, 2, 4]" in "".join(injected[0]["source"])


def test_seed_override_reaches_the_notebook(demo, tmp_path):
    out = tmp_path / "out"
    run_notebook(demo, "smoke", out, out / "x.ipynb", config={"seeds": [7, 8]})
    assert sorted(pd.read_csv(out / "results.csv")["seed"].unique()) == [7, 8]


def test_failing_notebook_keeps_traceback_and_names_it(demo, tmp_path, monkeypatch):
    demo.spec["scales"]["smoke"]["params"]["fail"] = True
    out, failed = tmp_path / "out", tmp_path / "logs" / "di_demo.failed.ipynb"
    with pytest.raises(ReproError) as err:
        run_notebook(demo, "smoke", out, out / "di_demo.ipynb", failed)
    message = str(err.value)
    assert "RuntimeError" in message and "planted failure" in message and str(failed) in message
    assert "planted failure" in failed.read_text()
    assert not (out / "di_demo.ipynb").exists()


def test_notebook_without_parameters_cell_is_rejected(demo, demo_project, tmp_path):
    (demo_project / "notebooks" / "di_demo.py").write_text("# %%\nx = 1\n")
    with pytest.raises(ReproError, match="no cell tagged `parameters`"):
        run_notebook(demo, "smoke", tmp_path, tmp_path / "x.ipynb")


def test_report_puts_ours_beside_paper_and_status(demo, tmp_path):
    results, reports = tmp_path / "results", tmp_path / "reports"
    out = results / "mini" / "di_demo"
    run_notebook(demo, "mini", out, out / "di_demo.ipynb")
    index = render_report([demo], "mini", {"di_demo": out}, reports / "mini", tmp_path / "logs")
    text = index.read_text()
    assert "| [di_demo](di_demo.md) | Diffusion Inversion | Table 9 | reproduced | 1 of 1 decided claims hold |" in text
    page = (reports / "mini" / "di_demo.md").read_text()
    # row 2: seeds 0,1,2 -> 20, 21, 22: mean 21 ± 1 beside the paper's 25 ± 0.5
    assert "| Table 9 | 2 | accuracy | % | 21 ± 1 | 3 | 25 ± 0.5 | demo line 1 |" in page
    assert (reports / "mini" / "di_demo.html").exists() and "<table>" in (reports / "mini" / "index.html").read_text()


def test_report_labels_extensions_and_states_conventions(demo, tmp_path):
    demo.spec["claims"][0]["source"] = "extension"
    demo.spec["scales"]["mini"]["params"].update(guidance=[2], features="pool-resnet18", metric_convention="studiogan")
    out, reports = tmp_path / "results" / "mini" / "di_demo", tmp_path / "reports"
    run_notebook(demo, "mini", out, out / "di_demo.ipynb")
    index = render_report([demo], "mini", {"di_demo": out}, reports / "mini", tmp_path / "logs")
    # the label's brackets stay brackets: escaped in the Markdown, literal on the HTML page
    assert r"| accuracy grows with data \[extension of this suite, not a claim of the paper\] | di_demo |" in (
        index.read_text()
    )
    assert "<td>accuracy grows with data [extension of this suite, not a claim of the paper]</td>" in (
        index.with_suffix(".html").read_text()
    )
    page = (reports / "mini" / "di_demo.md").read_text()
    assert "a row or column at w = 1 is the value of the authors' released code (guidance_scale 2)" in page
    assert "Image metrics: the studiogan convention on pool-resnet18 features" in page


def test_report_explains_skipped_and_missing(demo, tmp_path):
    def render(scale):
        runs = {"di_demo": tmp_path / "results" / scale / "di_demo"}
        return render_report([demo], scale, runs, tmp_path / "reports" / scale, tmp_path / "logs")

    index = render("paper")
    assert "not run at this scale | needs Stable Diffusion weights" in index.read_text()
    index = render("smoke")
    assert "| not run yet |" in index.read_text()
    demo.notebook.unlink()
    index = render("smoke")
    assert "| no notebook yet | notebooks/di_demo.py is not written yet |" in index.read_text()


def test_a_relative_data_folder_reaches_the_notebook_as_an_absolute_path(demo, tmp_path, monkeypatch):
    """The README writes REPRO_DATA=../shared/data; the notebook runs in its output folder, not the repo root."""
    from repro.workflow.notebook import notebook_parameters

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPRO_DATA", "../shared/data")
    params = notebook_parameters(demo, "smoke", tmp_path / "out")
    assert params["data_root"] == str((tmp_path / ".." / "shared" / "data").resolve())
    assert notebook_parameters(demo, "smoke", tmp_path, {"data_root": "data"})["data_root"] == str(tmp_path / "data")


def test_the_report_command_renders_the_run_folders_it_is_given(demo_project, tmp_path, capsys):
    from repro.cli import main

    out = tmp_path / "elsewhere" / "di_demo"
    run_notebook(load_registry(demo_project / "config")["di_demo"], "mini", out, out / "di_demo.ipynb")
    pages = tmp_path / "pages"
    args = ["report", "--config-dir", str(demo_project / "config"), "--scale", "mini", "--out", str(pages)]
    assert main([*args, "--runs", str(out)]) == 0
    assert "| reproduced |" in (pages / "index.md").read_text()
    assert main([*args, "--runs", str(tmp_path / "di_other")]) == 2
    assert "'di_other' is not one of the reported experiments (di_demo)" in capsys.readouterr().err


@pytest.mark.parametrize("table", ["results.csv", "claims.csv"])
def test_a_damaged_result_table_is_named_with_how_to_remake_it(demo, tmp_path, table):
    out = tmp_path / "results" / "mini" / "di_demo"
    run_notebook(demo, "mini", out, out / "di_demo.ipynb")
    (out / table).write_bytes(b'table,row\n"unclosed quote,\x00')
    with pytest.raises(ReproError, match=rf"di_demo/{table} is damaged .*run its experiment again \(delete .*di_demo"):
        render_report([demo], "mini", {"di_demo": out}, tmp_path / "reports", tmp_path / "logs")
