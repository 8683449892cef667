"""The Snakemake workflow: the DAG lists every runnable artifact at each scale, and bad input stops it early."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from repro.report.browser import check_pages, find_browser
from repro.report.jobs import read_jobs
from repro.workflow.registry import SCALES, load_registry, load_scale, needed_assets
from tests.conftest import CONFIG_DIR, REPO
from tests.test_workflow_prepare import run_all

#: the notebook the README's "edit a notebook" path is tested with: one of the quickest at smoke scale
PREPARED_EXAMPLE = "di_fig4_runtime"

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    # a dry run reads no data, but DDIS assets name a file of the data folder: any existing folder will do for it
    env = {"REPRO_DATA": os.environ.get("REPRO_DATA") or tempfile.gettempdir(), **os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=3600, env=env)


@pytest.mark.parametrize("scale", SCALES)
def test_dry_run_lists_every_runnable_artifact(scale):
    run = snakemake("-n", "--quiet", "rules", "--config", f"scale={scale}")
    assert run.returncode == 0, run.stderr
    dag = snakemake("-n", "--config", f"scale={scale}", "--forceall")
    assert dag.returncode == 0, dag.stderr
    outputs = set(re.findall(r"^\s*output: (.+)$", dag.stdout, flags=re.M))
    for experiment in load_registry(CONFIG_DIR).values():
        folder = f"results/{scale}/{experiment.id}"
        if experiment.skip_reason(scale) or not experiment.notebook.exists():
            assert folder not in outputs
        else:
            assert folder in outputs, f"{experiment.id} missing from the {scale} DAG"
    assert f"reports/{scale}" in outputs


def test_an_experiment_that_times_runs_alone_on_a_shared_gpu():
    timed = sorted(e.id for e in load_registry(CONFIG_DIR).values() if e.timed)
    assert timed == ["ddis_efficiency", "di_fig4_runtime"]
    ids = [*timed, "di_table2_lecf_quality"]
    dag = snakemake(
        "-n",
        "--forceall",
        "--resources",
        "gpu=3",
        "--config",
        "scale=mini",
        "gpu_jobs=3",
        f"experiments=[{','.join(ids)}]",
    )
    assert dag.returncode == 0, dag.stderr
    asked = dict(re.findall(r"wildcards: scale=mini, id=(\w+)\n\s+resources: [^\n]*gpu=(\d+)", dag.stdout))
    assert asked == {"ddis_efficiency": "3", "di_fig4_runtime": "3", "di_table2_lecf_quality": "1"}


def test_unknown_config_key_stops_the_workflow():
    run = snakemake("-n", "--config", "scael=mini")
    assert run.returncode != 0
    assert "unknown key(s) ['scael']" in run.stderr + run.stdout


def test_an_asset_that_needs_the_data_folder_stops_the_dag_when_none_is_set():
    env = {k: v for k, v in os.environ.items() if k != "REPRO_DATA"}
    run = subprocess.run(
        [*SNAKEMAKE, "-n", "--config", "scale=mini", "experiments=[ddis_kd]"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode != 0
    assert "from the data folder, but none is set: set $REPRO_DATA" in run.stderr + run.stdout


def test_a_data_folder_that_does_not_exist_stops_the_dry_run_with_the_commands_message(tmp_path):
    missing = tmp_path / "nonexistent"
    run = snakemake("-n", "--config", f"data_root={missing}")
    assert run.returncode != 0
    dry = run.stderr + run.stdout
    code = subprocess.run(
        [
            sys.executable,
            "-m",
            "repro.cli",
            "invert",
            "--dataset",
            "cifar10",
            "--data-root",
            str(missing),
            "--out",
            str(tmp_path / "emb"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    (message,) = [line for line in code.stderr.splitlines() if "error:" in line]
    assert code.returncode == 2 and message.split("error: ", 1)[1] in dry
    assert f"the data folder {missing} named by data_root" in message and "../shared/data" in message


def test_unknown_experiment_id_stops_the_workflow():
    run = snakemake("-n", "--config", "experiments=[di_nope]")
    assert run.returncode != 0
    assert "unknown experiment id(s) ['di_nope']" in run.stderr + run.stdout


def smoke_config(root: Path) -> list[str]:
    """The smoke scale with its folders under ``root``."""
    return [
        "--config",
        "scale=smoke",
        f"results_dir={root}/results",
        f"reports_dir={root}/reports",
        f"work_dir={root}/work",
    ]


@pytest.fixture(scope="module")
def smoke_dag(tmp_path_factory) -> Path:
    """The whole smoke DAG on this machine's cores, run once for the tests below (its folders under one root)."""
    root = tmp_path_factory.mktemp("smoke")
    run = snakemake("--cores", "2", *smoke_config(root))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return root


@pytest.mark.slow
def test_smoke_workflow_runs_end_to_end(smoke_dag):
    """Every runnable artifact yields its folder and CSV, every asset it reads its folder (none left half-done
    in a .partial folder), then the report."""
    index = (smoke_dag / "reports" / "smoke" / "index.md").read_text()
    scale, needed = load_scale(CONFIG_DIR, "smoke"), set()
    for experiment in load_registry(CONFIG_DIR).values():
        if experiment.notebook.exists() and not experiment.skip_reason("smoke"):
            assert (smoke_dag / "results" / "smoke" / experiment.id / "results.csv").exists()
            assert f"[{experiment.id}]({experiment.id}.md) " in index
            needed |= set(needed_assets(experiment, "smoke", scale))
    built = {p.name for p in (smoke_dag / "work" / "smoke" / "assets").iterdir()}
    assert needed <= built <= set(scale["assets"]), built - set(scale["assets"])
    # smoke runs one seed, and one seed decides no claim
    verdicts = [row.split(" | ")[2] for row in index.split("## Claims")[1].splitlines()[4:] if row.startswith("| ")]
    assert verdicts and set(verdicts) == {"undecided"}


@pytest.mark.slow
def test_a_fresh_run_names_its_generator_weights_in_every_row(smoke_dag):
    """Every row that names the mini generator names its weights too (``mini (<fingerprint>)``, here the smoke
    DAG's own pretrained one), so a report read right after the run flags nothing as computed with other weights:
    a bare name reads as weights of the past."""
    labelled = set()
    for csv in sorted((smoke_dag / "results" / "smoke").glob("*/results.csv")):
        named = set(pd.read_csv(csv).get("generator", pd.Series(dtype=str)).dropna().astype(str))
        assert "mini" not in named, f"{csv.parent.name} has rows naming the bare generator `mini`"
        labelled |= {name for name in named if name.startswith("mini (")}
    assert len(labelled) == 1, labelled  # one generator, the smoke DAG's
    index = (smoke_dag / "reports" / "smoke" / "index.md").read_text()
    assert "changed since" not in index


@pytest.mark.slow
def test_the_smoke_report_reads_cleanly_in_chromium(smoke_dag):
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[browser]')")
    if find_browser() is None:
        pytest.skip("no Chromium binary (apt-get install chromium)")
    pages = sorted((smoke_dag / "reports" / "smoke").glob("*.html"))
    checks = check_pages(pages)
    assert {str(c.page): c.problems for c in checks if c.problems} == {}
    # the index, the scoreboard, the jobs page and one page per artifact
    assert sum(c.images for c in checks) > 0 and len(checks) == len(load_registry(CONFIG_DIR)) + 3


@pytest.mark.slow
def test_the_readme_notebook_path_runs_a_prepared_notebook_at_smoke_scale(smoke_dag):
    """`repro notebook ID --scale smoke`, then the notebook run as JupyterLab runs it, on the DAG's assets: its
    results land beside the prepared notebook and the workflow's own results stay as they were."""
    experiment = PREPARED_EXAMPLE
    workflow_csv = smoke_dag / "results" / "smoke" / experiment / "results.csv"
    before = workflow_csv.read_bytes()
    run = subprocess.run(
        [
            "repro",
            "notebook",
            experiment,
            "--scale",
            "smoke",
            "--work-dir",
            str(smoke_dag / "work"),
            "--dest",
            str(smoke_dag / "nb"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0 and "build the assets" not in run.stdout, run.stdout + run.stderr

    run_all(smoke_dag / "nb" / f"{experiment}.ipynb")

    results = pd.read_csv(smoke_dag / "nb" / experiment / "results.csv")
    assert (results["scale"] == "smoke").all() and len(results) > 0
    assert workflow_csv.read_bytes() == before


def scheduled(root: Path) -> set[str]:
    """What a dry run of the smoke DAG under ``root`` would build: the outputs of its jobs."""
    dry = snakemake("--dry-run", *smoke_config(root))
    assert dry.returncode == 0, dry.stderr
    return set(re.findall(r"^\s*output: (.+)$", dry.stdout, flags=re.M))


@pytest.mark.slow
def test_a_finished_tree_schedules_nothing(smoke_dag):
    assert scheduled(smoke_dag) == set()


@pytest.mark.slow
def test_a_deleted_result_folder_reschedules_its_experiment_and_the_report_only(smoke_dag, tmp_path):
    folder = smoke_dag / "results" / "smoke" / "di_fig6_real_scaling"
    shutil.move(folder, tmp_path / "kept")  # back where it was after the dry run, its times unchanged
    try:
        outputs = scheduled(smoke_dag)
    finally:
        shutil.move(tmp_path / "kept", folder)
    assert outputs == {
        str(folder),
        str(smoke_dag / "results" / "smoke" / "jobs.csv"),
        str(smoke_dag / "reports" / "smoke"),
    }


@pytest.mark.slow
def test_every_job_records_its_time_and_memory_in_the_jobs_table(smoke_dag):
    """Each asset and experiment the DAG ran has its row; on a CPU no job used a GPU; a notebook's runner and its
    kernel each recorded their peak; the report shows the table."""
    jobs, closing = read_jobs(smoke_dag / "results" / "smoke" / "jobs.csv")
    scale, expected = load_scale(CONFIG_DIR, "smoke"), set()
    for experiment in load_registry(CONFIG_DIR).values():
        if experiment.notebook.exists() and not experiment.skip_reason("smoke"):
            expected |= {("experiment", experiment.id)} | {
                ("asset", a) for a in needed_assets(experiment, "smoke", scale)
            }
            peaks = (REPO / "benchmarks" / "smoke" / f"{experiment.id}.gpu.jsonl").read_text().splitlines()
            assert len({json.loads(line)["pid"] for line in peaks}) == 2, experiment.id
    assert expected <= set(zip(jobs["kind"], jobs["job"]))
    ran = jobs[[(kind, job) in expected for kind, job in zip(jobs["kind"], jobs["job"])]]
    assert (ran["wall_s"] > 0).all() and (ran["gpu_peak_mib"] == 0).all() and (ran["device"] == "no GPU").all()
    assert list(jobs["wall_s"]) == sorted(jobs["wall_s"], reverse=True)
    assert 0 < closing.loc["run", "wall_s"] <= closing.loc["total", "wall_s"] + 1
    assert "[Time and memory of every job](jobs.md)" in (smoke_dag / "reports" / "smoke" / "index.md").read_text()
