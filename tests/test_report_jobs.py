"""The jobs table: every benchmarked job's time, memory and GPU peak in results/<scale>/jobs.csv, with the sum of
the jobs' times and the run's wall time, and the report's page of it, longest job first."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from repro.cli import main
from repro.report import render_report
from repro.report.jobs import busy_seconds, clock, jobs_page, read_jobs
from repro.workflow.registry import load_registry

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
START = 1_800_000_000  # the run's first job starts here


def bench(folder, name, seconds, ended, rss="512.30", gpu_lines=None):
    """A job's benchmark TSV as Snakemake writes it when the job ends, and its GPU peak records."""
    tsv = folder / f"{name}.tsv"
    tsv.parent.mkdir(parents=True, exist_ok=True)
    tsv.write_text(HEADER + f"{seconds}\t{clock(seconds)}\t{rss}\t1\t1\t1\t0\t0\t0.5\t1\n")
    os.utime(tsv, (START + ended, START + ended))
    if gpu_lines is not None:
        tsv.with_suffix(".gpu.jsonl").write_text("".join(json.dumps(line) + "\n" for line in gpu_lines))


@pytest.fixture
def benchmarks(tmp_path):
    """Two assets at once (0-100 s, 50-250 s), then an experiment after a pause between resumed pieces
    (1000-1060 s); the second asset was recorded before GPU peaks were."""
    folder = tmp_path / "benchmarks" / "mini"
    h100 = {"name": "NVIDIA H100", "peak_bytes": 2048 * 1024**2, "alloc_retries": 3}
    timed = {
        "pid": 1,
        "devices": [h100],
        "phases": {"data": 12.0, "generator": 3.4, "inversion": 70.2},
        "process_s": 98.9,
    }
    bench(folder / "assets", "inversion_cifar10", 100.0, 100, gpu_lines=[timed])
    bench(folder / "assets", "synthetic_cifar10", 200.0, 250, rss="NA")
    cpu_only = [{"pid": 2, "devices": []}, {"pid": 3, "devices": []}]
    bench(folder, "di_fig4_runtime", 60.0, 1060, gpu_lines=cpu_only)
    return folder


def test_busy_seconds_is_the_length_of_the_union():
    assert busy_seconds([(0, 100), (50, 250), (1000, 1060)]) == 310
    assert busy_seconds([(0, 10), (2, 3)]) == 10 and busy_seconds([]) == 0


def test_the_table_lists_every_job_longest_first_and_closes_with_the_sum_and_the_run(benchmarks, tmp_path):
    out = tmp_path / "results" / "mini" / "jobs.csv"
    assert main(["jobs", "--scale", "mini", "--benchmarks", str(benchmarks), "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table["job"][:3]) == ["synthetic_cifar10", "inversion_cifar10", "di_fig4_runtime"]
    assert list(table["kind"]) == ["asset", "asset", "experiment", "total", "run"]
    jobs, closing = read_jobs(out)
    first = jobs.iloc[1]  # inversion_cifar10
    measured = dict(first[["wall_s", "wall", "max_rss_mib", "gpu_peak_mib", "gpu_alloc_retries", "device"]])
    assert measured == {
        "wall_s": 100,
        "wall": "0:01:40",
        "max_rss_mib": 512,
        "gpu_peak_mib": 2048,
        "gpu_alloc_retries": 3,
        "device": "NVIDIA H100",
    }
    assert first.started == "2027-01-15T08:00:00+00:00" and first.ended == "2027-01-15T08:01:40+00:00"
    assert first.phases == "process 99 s: other 13 s, data 12 s, generator 3 s, inversion 70 s"
    unrecorded, cpu = jobs.iloc[0], jobs.iloc[2]
    assert unrecorded.phases == "" and cpu.phases == ""  # jobs whose processes timed no phase
    assert pd.isna(unrecorded.max_rss_mib) and pd.isna(unrecorded.gpu_peak_mib) and unrecorded.device == ""
    assert cpu.gpu_peak_mib == 0 and cpu.device == "no GPU" and cpu.gpu_alloc_retries == 0
    assert pd.isna(unrecorded.gpu_alloc_retries) and closing.loc["total", "gpu_alloc_retries"] == 3
    assert closing.loc["total", "wall_s"] == 360 and closing.loc["total", "wall"] == "0:06:00"
    assert closing.loc["run", "wall_s"] == 310 and closing.loc["run", "gpu_peak_mib"] == 2048
    assert closing.loc["run", "device"] == "NVIDIA H100"
    assert closing.loc["run", "ended"] == "2027-01-15T08:17:40+00:00"


def test_the_report_shows_the_table_and_links_it_from_the_index(benchmarks, demo_project, tmp_path):
    table = tmp_path / "results" / "mini" / "jobs.csv"
    main(["jobs", "--scale", "mini", "--benchmarks", str(benchmarks), "--out", str(table)])
    demo = load_registry(demo_project / "config")["di_demo"]
    pages = tmp_path / "reports" / "mini"
    index = render_report([demo], "mini", {"di_demo": tmp_path / "none"}, pages, tmp_path / "logs", [table])
    assert "[Time and memory of every job](jobs.md)" in index.read_text()
    page = (pages / "jobs.md").read_text()
    assert "The run took **0:05:10** (310 s) of wall time" in page and "add up to 0:06:00 (360 s)" in page
    assert "The sum of the jobs' times is not the wall time" in page
    rows = [line for line in page.splitlines() if line.startswith("| ") and "|---" not in line][1:]
    assert [row.split(" | ")[0] for row in rows] == ["| synthetic_cifar10", "| inversion_cifar10", "| di_fig4_runtime"]
    assert "| inversion_cifar10 | asset | 0:01:40 | 100.0 | 512 | 2,048 | 3 | NVIDIA H100 |" in page
    assert "process 99 s: other 13 s, data 12 s, generator 3 s, inversion 70 s |" in page
    assert "| synthetic_cifar10 | asset | 0:03:20 | 200.0 | — | — | — |  |" in page
    assert f"The same table, with the two closing lines: `{table.as_posix()}`." in page  # the table shown, named
    assert (pages / "jobs.html").exists()


def test_a_dag_made_in_two_runs_shows_each_runs_table_and_their_sum(benchmarks, demo_project, tmp_path, capsys):
    first, second = tmp_path / "run1" / "jobs.csv", tmp_path / "run2" / "jobs.csv"
    main(["jobs", "--scale", "mini", "--benchmarks", str(benchmarks), "--out", str(first)])
    later = tmp_path / "later" / "mini"
    bench(later, "di_table4_augmentations", 90.0, 5090)  # the second session's run: one job of 90 s
    main(["jobs", "--scale", "mini", "--benchmarks", str(later), "--out", str(second)])
    config, pages = str(demo_project / "config"), tmp_path / "reports" / "mini"
    common = ["report", "--scale", "mini", "--config-dir", config, "--results", str(tmp_path), "--out", str(pages)]
    assert main([*common, "--jobs", str(first), str(second)]) == 0
    page = (pages / "jobs.md").read_text()
    assert "ran in 2 runs, each its own table below: 0:05:10 (310 s), 0:01:30 (90 s), **0:06:40** (400 s)" in page
    assert page.index("## Run 1 of 2") < page.index("| synthetic_cifar10 |") < page.index("## Run 2 of 2")
    assert page.index("## Run 2 of 2") < page.index("| di_table4_augmentations | experiment | 0:01:30 |")
    assert f"`{second.as_posix()}`." in page and "with at least one of its 1 job running" in page
    # one table: no runs to add up; a table that is not there is named
    assert main([*common, "--jobs", str(first)]) == 0
    assert "ran in" not in (pages / "jobs.md").read_text() and "## Run" not in (pages / "jobs.md").read_text()
    assert main([*common, "--jobs", str(first), str(tmp_path / "nowhere.csv")]) == 2
    assert "nowhere.csv, which does not exist" in capsys.readouterr().err


def test_without_benchmarks_the_command_says_where_it_looked(tmp_path, capsys):
    missing = tmp_path / "benchmarks" / "mini"
    assert main(["jobs", "--scale", "mini", "--benchmarks", str(missing), "--out", str(tmp_path / "j.csv")]) == 2
    assert f"no benchmarks in {missing}" in capsys.readouterr().err


def test_a_table_written_before_phases_or_retries_were_recorded_still_reads(benchmarks, tmp_path):
    out = tmp_path / "jobs.csv"
    main(["jobs", "--scale", "mini", "--benchmarks", str(benchmarks), "--out", str(out)])
    pd.read_csv(out).drop(columns=["phases", "gpu_alloc_retries"]).to_csv(out, index=False)
    jobs, _ = read_jobs(out)
    assert list(jobs["phases"]) == ["", "", ""] and jobs["gpu_alloc_retries"].isna().all()
    assert "| 2,048 | — | NVIDIA H100 |" in jobs_page([out], "mini").markdown()


def test_a_job_stopped_before_its_end_has_a_row_from_its_progress_lines(benchmarks, tmp_path):
    """A piece's time limit stopped a notebook: no benchmark, but its kernel's progress lines (the last one still
    running) give its time, peak and phases until then; a job whose process ended (it failed) gets no row."""
    h100 = {"name": "NVIDIA H100", "peak_bytes": 3072 * 1024**2}
    lines = [
        {"pid": 7, "devices": [h100], "running": True, "phases": {"training": 150.0}, "process_s": 200.0},
        {
            "pid": 7,
            "devices": [h100],
            "running": True,
            "phases": {"training": 300.0, "sampling": 100.0},
            "process_s": 480,
        },
    ]
    stopped = benchmarks / "di_fig8a_train_steps_guidance.gpu.jsonl"
    stopped.write_text("".join(json.dumps(line) + "\n" for line in lines))
    os.utime(stopped, (START + 1500, START + 1500))
    failed = benchmarks / "di_table7_real_plus_synthetic.gpu.jsonl"
    failed.write_text(json.dumps({"pid": 8, "devices": [h100], "phases": {"training": 9.0}, "process_s": 30}) + "\n")
    out = tmp_path / "jobs.csv"
    main(["jobs", "--scale", "mini", "--benchmarks", str(benchmarks), "--out", str(out)])
    jobs, closing = read_jobs(out)
    assert list(jobs["job"]) == [
        "di_fig8a_train_steps_guidance",
        "synthetic_cifar10",
        "inversion_cifar10",
        "di_fig4_runtime",
    ]
    row = jobs.iloc[0]
    assert (row.kind, row.wall_s, row.gpu_peak_mib, row.device) == ("experiment", 480, 3072, "NVIDIA H100")
    assert row.phases == "process 480 s until stopped: other 80 s, training 300 s, sampling 100 s"
    assert row.started == "2027-01-15T08:17:00+00:00" and row.ended == "2027-01-15T08:25:00+00:00"
    assert closing.loc["total", "wall_s"] == 840
