"""The Snakemake workflow: the DAG lists every runnable artifact at each scale, and bad input stops it early."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from repro.paths import REPO_ROOT
from repro.workflow.registry import SCALES, load_registry

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    # a dry run reads no data, but DDIS assets name a file of the data folder: any existing folder will do for it
    env = {"REPRO_DATA": os.environ.get("REPRO_DATA") or tempfile.gettempdir(), **os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=3600, env=env)


@pytest.mark.parametrize("scale", SCALES)
def test_dry_run_lists_every_runnable_artifact(scale):
    run = snakemake("-n", "--quiet", "rules", "--config", f"scale={scale}")
    assert run.returncode == 0, run.stderr
    dag = snakemake("-n", "--config", f"scale={scale}", "--forceall")
    assert dag.returncode == 0, dag.stderr
    for experiment in load_registry().values():
        path = f"results/{scale}/{experiment.id}/results.csv"
        if experiment.skip_reason(scale) or not experiment.notebook.exists():
            assert path not in dag.stdout
        else:
            assert path in dag.stdout, f"{experiment.id} missing from the {scale} DAG"
    assert f"reports/{scale}/index.md" in dag.stdout


def test_unknown_config_key_stops_the_workflow():
    run = snakemake("-n", "--config", "scael=mini")
    assert run.returncode != 0
    assert "unknown key(s) ['scael']" in run.stderr + run.stdout


def test_an_asset_that_needs_the_data_folder_stops_the_dag_when_none_is_set():
    env = {k: v for k, v in os.environ.items() if k != "REPRO_DATA"}
    run = subprocess.run([*SNAKEMAKE, "-n", "--config", "scale=mini", "experiments=[ddis_kd]"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode != 0
    assert "from the data folder, but none is set: set $REPRO_DATA" in run.stderr + run.stdout


def test_a_data_folder_that_does_not_exist_stops_the_dry_run_with_the_commands_message(tmp_path):
    missing = tmp_path / "nonexistent"
    run = snakemake("-n", "--config", f"data_root={missing}")
    assert run.returncode != 0
    dry = run.stderr + run.stdout
    code = subprocess.run([sys.executable, "-m", "repro.cli", "invert", "--dataset", "cifar10", "--data-root",
                           str(missing), "--out", str(tmp_path / "emb")], capture_output=True, text=True, timeout=300)
    (message,) = [line for line in code.stderr.splitlines() if "error:" in line]
    assert code.returncode == 2 and message.split("error: ", 1)[1] in dry
    assert f"the data folder {missing} named by data_root" in message and "../shared/data" in message


def test_unknown_experiment_id_stops_the_workflow():
    run = snakemake("-n", "--config", "experiments=[di_nope]")
    assert run.returncode != 0
    assert "unknown experiment id(s) ['di_nope']" in run.stderr + run.stdout


@pytest.mark.slow
def test_smoke_workflow_runs_end_to_end(tmp_path):
    """The whole smoke DAG on this machine's cores: every runnable artifact yields its CSV, then the report."""
    run = snakemake("--cores", "2", "--config", "scale=smoke", f"results_dir={tmp_path}/results",
                    f"reports_dir={tmp_path}/reports", f"work_dir={tmp_path}/work")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    index = (tmp_path / "reports" / "smoke" / "index.md").read_text()
    for experiment in load_registry().values():
        if experiment.notebook.exists() and not experiment.skip_reason("smoke"):
            assert (tmp_path / "results" / "smoke" / experiment.id / "results.csv").exists()
            assert f"[{experiment.id}]({experiment.id}.md) " in index
