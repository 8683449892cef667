"""A workflow job's processes record their peak GPU memory: a `repro` command and a notebook's kernel each append
their line to the file the job names, with no GPU on a CPU, and the CUDA peak where the process used CUDA."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import torch

from repro.workflow import jobstats
from repro.workflow.jobstats import GPU_PEAK_FILE_ENV, GpuPeak, append_gpu_peak, read_gpu_peak
from repro.workflow.notebook import run_notebook
from repro.workflow.registry import load_registry
from tests.conftest import REPO


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_repro_command_records_its_peak_at_exit_even_when_it_fails(tmp_path):
    """The command runs in the job's folder with a relative path, as Snakemake's rules give it; on a CPU it used
    no GPU."""
    env = {**os.environ, "PYTHONPATH": str(REPO), GPU_PEAK_FILE_ENV: "benchmarks/job.gpu.jsonl"}
    run = subprocess.run(
        [sys.executable, "-m", "repro.cli", "run", "di_nope", "--config-dir", str(REPO / "config")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2 and "unknown experiment id" in run.stderr
    (line,) = records(tmp_path / "benchmarks" / "job.gpu.jsonl")
    assert line["devices"] == [] and line["pid"] != os.getpid()
    assert read_gpu_peak(tmp_path / "benchmarks" / "job.gpu.jsonl") == GpuPeak(0.0, "", 0)


def test_a_notebooks_kernel_records_its_own_peak_and_leaves_no_trace_in_the_notebook(
    demo_project, tmp_path, monkeypatch
):
    """papermill's kernel is a process of its own, started in the output folder: it appends to the job's file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(GPU_PEAK_FILE_ENV, "peak.gpu.jsonl")
    demo = load_registry(demo_project / "config")["di_demo"]
    out = tmp_path / "results" / "di_demo"
    executed = run_notebook(demo, "smoke", out, out / "di_demo.ipynb")
    (line,) = records(tmp_path / "peak.gpu.jsonl")
    assert line["pid"] != os.getpid() and line["devices"] == []
    assert "jobstats" not in executed.read_text()


def test_a_process_that_records_its_peak_before_it_ends_records_it_once_even_when_killed(tmp_path):
    """What a notebook's kernel does when its notebook saves (ExperimentRun.save): the kernel manager may kill a
    kernel before its exit hooks run; one ended without them (os._exit) and one ended normally each left one line."""
    for ending in ("os._exit(0)", "sys.exit(0)"):
        path = tmp_path / f"{ending[:2]}.gpu.jsonl"
        script = (
            "import os, sys; from repro.workflow import jobstats; jobstats.record_gpu_peak_at_exit(); "
            f"jobstats.record_gpu_peak_now(); {ending}"
        )
        env = {**os.environ, "PYTHONPATH": str(REPO), GPU_PEAK_FILE_ENV: str(path)}
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
        (line,) = records(path)
        assert line["devices"] == [] and line["pid"] != os.getpid()


def test_a_command_that_times_its_phases_says_where_its_time_went(tmp_path):
    """Each phase's seconds and the process's whole time are in its line; the text splits the process's time into
    the phases and the rest (imports, start-up)."""
    path = tmp_path / "job.gpu.jsonl"
    script = (
        "import time; from repro.provenance import phase; from repro.workflow import jobstats\n"
        "jobstats.record_gpu_peak_at_exit()\n"
        "with phase('data'): time.sleep(0.3)\n"
        "with phase('work'): time.sleep(1.2)\n"
        "with phase('data'): time.sleep(0.3)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), GPU_PEAK_FILE_ENV: str(path)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    (line,) = records(path)
    assert list(line["phases"]) == ["data", "work"]
    assert 0.55 <= line["phases"]["data"] <= 1.5 and 1.15 <= line["phases"]["work"] <= 2.5
    assert line["process_s"] >= sum(line["phases"].values())
    described = jobstats.read_phases(path)
    assert re.fullmatch(r"process \d+ s: other \d+ s, data 1 s, work 1 s", described), described
    (tmp_path / "untimed.gpu.jsonl").write_text(json.dumps({"pid": 1, "devices": []}) + "\n")
    assert jobstats.read_phases(tmp_path / "untimed.gpu.jsonl") == ""


def test_a_process_stopped_before_its_end_left_its_phases_so_far(tmp_path):
    """Progress lines as phases end (here at least 0.2 s apart): a process killed without its exit hooks (os._exit,
    as at a piece's time limit) reads as stopped, with its phases until its last line; one that ended normally
    reads from its last line alone, not stopped."""
    described = {}
    for ending in ("os._exit(0)", "sys.exit(0)"):
        path = tmp_path / f"{ending[:2]}.gpu.jsonl"
        script = (
            "import os, sys, time; from repro.provenance import phase; from repro.workflow import jobstats\n"
            "jobstats.PROGRESS_SECONDS = 0.2\n"
            "jobstats.record_gpu_peak_at_exit()\n"
            "for _ in range(3):\n"
            "    with phase('work'): time.sleep(0.25)\n"
            "with phase('rest'): time.sleep(0.05)\n"  # ends too soon after the last line for one of its own
            f"{ending}\n"
        )
        env = {**os.environ, "PYTHONPATH": str(REPO), GPU_PEAK_FILE_ENV: str(path)}
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
        lines = records(path)
        assert len(lines) >= 3 and {line["pid"] for line in lines} == {lines[0]["pid"]}
        assert all(line.get("running") for line in lines[:-1]) and lines[0]["phases"]["work"] >= 0.2
        described[ending] = (jobstats.read_phases(path), jobstats.stopped_seconds(path))
    killed, ended = described["os._exit(0)"], described["sys.exit(0)"]
    assert re.fullmatch(r"process \d+ s until stopped: other \d+ s, work 1 s", killed[0]), killed
    assert killed[1] is not None and killed[1] >= 0.7
    assert re.fullmatch(r"process \d+ s: other \d+ s, work 1 s, rest 0 s", ended[0]) and ended[1] is None, ended


def test_without_a_file_named_nothing_is_recorded(monkeypatch):
    monkeypatch.delenv(GPU_PEAK_FILE_ENV, raising=False)
    assert jobstats.kernel_arguments() == []


def test_the_peak_is_the_largest_any_process_reserved_on_any_device(tmp_path, monkeypatch):
    """The CUDA path, with torch.cuda's answers planted: a runner that never initialised CUDA, then a kernel that
    reserved 3 GiB on the first of two devices."""
    path = tmp_path / "job.gpu.jsonl"
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    append_gpu_peak(path)
    reserved = {0: 3 * 1024**3, 1: 0}
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"Fake H100 #{i}")
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda i: reserved[i])
    monkeypatch.setattr(torch.cuda, "memory_stats", lambda i: {"num_alloc_retries": 5 - 5 * i})
    append_gpu_peak(path)
    runner, kernel = records(path)
    assert runner["devices"] == []
    assert kernel["devices"] == [
        {"name": "Fake H100 #0", "peak_bytes": 3 * 1024**3, "alloc_retries": 5},
        {"name": "Fake H100 #1", "peak_bytes": 0, "alloc_retries": 0},
    ]
    assert read_gpu_peak(path) == GpuPeak(3072.0, "Fake H100 #0", 5)
    # another process of the job, on the same device, retried twice: the job's retries add up
    other = {"pid": os.getpid() + 1, "devices": [{"name": "Fake H100 #0", "peak_bytes": 1024**3, "alloc_retries": 2}]}
    with open(path, "a") as file:
        file.write(json.dumps(other) + "\n")
    assert read_gpu_peak(path) == GpuPeak(3072.0, "Fake H100 #0", 7)
    # a record written before the count: the peak still, the retries unknown
    old = tmp_path / "old.gpu.jsonl"
    old.write_text(json.dumps({"pid": 1, "devices": [{"name": "Fake H100 #0", "peak_bytes": 1024**3}]}) + "\n")
    assert read_gpu_peak(old) == GpuPeak(1024.0, "Fake H100 #0", None)


def test_a_job_that_recorded_nothing_has_no_peak(tmp_path):
    assert read_gpu_peak(tmp_path / "missing.gpu.jsonl") == GpuPeak(None, "")
    (tmp_path / "killed.gpu.jsonl").write_text("")
    assert read_gpu_peak(tmp_path / "killed.gpu.jsonl") == GpuPeak(None, "")
