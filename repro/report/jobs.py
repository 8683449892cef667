"""``repro jobs``: where a workflow run's time goes. One table of every asset and experiment job of a scale, its
wall time, memory and peak GPU memory, gathered from what the jobs left under ``benchmarks/<scale>/`` (Snakemake's
benchmark TSVs, and the GPU peaks and timed phases of :mod:`repro.workflow.jobstats` beside them) into
``results/<scale>/jobs.csv``, which is committed with the results; the report shows it as its jobs page.

A job's end is its benchmark file's modification time (Snakemake writes it when the job finishes), its start that
less its wall time. A job stopped before its end (a piece's time limit) has no benchmark: it gets a row where its
processes' progress lines tell how long it had run and where that time went (its phases say "until stopped"),
ending at its last line, so the table shows what the run spent on work it did not finish. Two lines close the
table: the sum of the jobs' times, and the run's wall time, taken as the time during which at least one job ran
(the union of the jobs' intervals): the sum exceeds it where jobs ran at once, and it leaves out the pauses
between the pieces of a resumed run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..errors import ReproError
from ..workflow.jobstats import read_gpu_peak, read_phases, stopped_seconds
from .page import Page, plain

COLUMNS = [
    "job",
    "kind",
    "wall_s",
    "wall",
    "max_rss_mib",
    "gpu_peak_mib",
    "gpu_alloc_retries",
    "device",
    "started",
    "ended",
    "phases",
]
#: the columns that are empty where a job recorded nothing
OPTIONAL_NUMBERS = ("max_rss_mib", "gpu_peak_mib", "gpu_alloc_retries")
#: the kinds of the job rows; the two closing lines have kinds "total" and "run"
JOB_KINDS = ("asset", "experiment")


def clock(seconds: float) -> str:
    """Seconds as h:mm:ss."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def _seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def gather_jobs(benchmarks: Path) -> pd.DataFrame:
    """One row per job benchmarked under ``benchmarks`` (assets in its ``assets/`` folder) and per job stopped
    before its end, longest first."""
    rows = []
    for tsv in sorted(benchmarks.rglob("*.tsv")):
        bench = pd.read_csv(tsv, sep="\t", na_values="NA").iloc[0]
        max_rss = None if pd.isna(bench["max_rss"]) else round(float(bench["max_rss"]))
        rows.append(_row(benchmarks, tsv.with_suffix(".gpu.jsonl"), float(bench["s"]), tsv.stat().st_mtime, max_rss))
    for record in sorted(benchmarks.rglob("*.gpu.jsonl")):
        if record.with_name(_job_name(record) + ".tsv").exists():  # finished: its row is above
            continue
        seconds = stopped_seconds(record)
        if seconds is not None:
            rows.append(_row(benchmarks, record, seconds, record.stat().st_mtime, None))
    return pd.DataFrame(rows, columns=COLUMNS).sort_values("wall_s", ascending=False, ignore_index=True)


def _job_name(record: Path) -> str:
    return record.name.removesuffix(".gpu.jsonl")


def _row(benchmarks: Path, record: Path, seconds: float, ended: float, max_rss: float | None) -> dict:
    """A job's row from its wall seconds, its end and its processes' lines (``record``)."""
    gpu = read_gpu_peak(record)
    return {
        "job": _job_name(record),
        "kind": "asset" if record.relative_to(benchmarks).parts[0] == "assets" else "experiment",
        "wall_s": round(seconds, 1),
        "wall": clock(seconds),
        "max_rss_mib": max_rss,
        "gpu_peak_mib": None if gpu.mib is None else round(gpu.mib),
        "gpu_alloc_retries": gpu.alloc_retries,
        "device": "" if gpu.mib is None else gpu.devices or "no GPU",
        "started": _timestamp(ended - seconds),
        "ended": _timestamp(ended),
        "phases": read_phases(record),
    }


def busy_seconds(intervals: list[tuple[float, float]]) -> float:
    """How long at least one of the intervals was open (their union's length)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def closing_lines(jobs: pd.DataFrame) -> pd.DataFrame:
    """The sum of the jobs' times, and the run's wall time (the union of their intervals)."""
    started, ended = jobs["started"].map(_seconds), jobs["ended"].map(_seconds)
    shared = {
        "max_rss_mib": jobs["max_rss_mib"].max(),
        "gpu_peak_mib": jobs["gpu_peak_mib"].max(),
        "gpu_alloc_retries": jobs["gpu_alloc_retries"].sum(min_count=1),
        "device": "; ".join(sorted({d for d in jobs["device"] if d and d != "no GPU"})),
        "started": _timestamp(started.min()) if len(jobs) else "",
        "ended": _timestamp(ended.max()) if len(jobs) else "",
        "phases": "",
    }

    def line(job: str, kind: str, seconds: float) -> dict:
        return {"job": job, "kind": kind, "wall_s": round(seconds, 1), "wall": clock(seconds), **shared}

    run = busy_seconds(list(zip(started, ended, strict=True)))
    return pd.DataFrame(
        [line("all jobs, one after another", "total", jobs["wall_s"].sum()), line("the run", "run", run)],
        columns=COLUMNS,
    )


def write_jobs(jobs: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Write the jobs and their closing lines to ``path``; return the closing lines."""
    closing = closing_lines(jobs)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat([jobs, closing], ignore_index=True).to_csv(path, index=False)
    return closing


def read_jobs(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The job rows of a jobs.csv and its closing lines."""
    table = pd.read_csv(path, keep_default_na=False, na_values=dict.fromkeys(OPTIONAL_NUMBERS, ""))
    if "phases" not in table:  # a table written before the jobs timed their phases
        table["phases"] = ""
    if "gpu_alloc_retries" not in table:  # or before they counted the allocator's retries
        table["gpu_alloc_retries"] = float("nan")
    is_job = table["kind"].isin(JOB_KINDS)
    return table[is_job].reset_index(drop=True), table[~is_job].set_index("kind")


def _whole(value) -> str:
    """A whole number with thousands separators; a dash where it was not recorded."""
    return "—" if pd.isna(value) else f"{value:,.0f}"


def jobs_page(paths: Sequence[Path], scale: str) -> Page:
    """The report's page of the jobs.csv of each run of the scale (a DAG made in several runs, one per GPU session,
    has one table each): every run's wall time, then its jobs, longest first."""
    page = Page(f"Time and memory of every job at scale `{scale}`")
    page.text(f"[All artifacts at scale `{scale}`](index.md)")
    tables = [(Path(path), *read_jobs(Path(path))) for path in paths]
    if all(jobs.empty for _, jobs, _ in tables):
        page.text("No job of this scale was benchmarked: run the workflow (`snakemake --cores all`).")
        return page
    if len(tables) > 1:
        walls = [closing.loc["run", "wall_s"] for _, jobs, closing in tables if not jobs.empty]
        page.text(
            f"The scale's jobs ran in {len(tables)} runs, each its own table below: "
            + ", ".join(f"{clock(w)} ({w:,.0f} s)" for w in walls)
            + f", **{clock(sum(walls))}** ({sum(walls):,.0f} s) of wall time in all, were they run one after "
            "another; a job two runs needed is made in each."
        )
    page.text(
        "A run's wall time is the time during which at least one of its jobs was running, without the pauses "
        "between the pieces of a resumed run. The sum of the jobs' times is not the wall time: Snakemake runs jobs "
        "at once where cores, GPUs and notebook kernels allow, so a job's share of the sum is not its share of the "
        "wall time. Neither counts Snakemake's own start-up between jobs, an attempt of a job that was stopped or "
        "failed, or the report."
    )
    page.text(
        "Max RSS: the memory of the job's processes (the notebook's kernel included), as Snakemake's benchmark "
        "samples it (every 30 s after a job's first 30 s: a short peak can be missed). GPU peak: the most memory "
        "PyTorch's caching allocator reserved on one device by any of the job's processes "
        "(`torch.cuda.max_memory_reserved`); the driver's view (nvidia-smi) adds each process's CUDA context. "
        "Retries: how often the allocator of one of its processes found the GPU's memory full, freed its cache and "
        "tried again (`num_alloc_retries`), each a wait for the GPU; where jobs share a GPU, many retries say that "
        "fewer should run at once. A dash: not recorded. Phases: where a command that times its phases (loading "
        "data, the generator, its own work) or a notebook (its sampling, inversions, trainings, metrics) spent its "
        "time; `other` is the rest of its process's time: imports, start-up and, in a notebook, what no phase covers."
    )
    for number, (path, jobs, closing) in enumerate(tables, 1):
        if len(tables) > 1:
            page.heading(f"Run {number} of {len(tables)}")
        _run_table(page, path, jobs, closing)
    return page


def _run_table(page: Page, path: Path, jobs: pd.DataFrame, closing: pd.DataFrame) -> None:
    """One run's wall time and the sum of its jobs' times, then its jobs, longest first."""
    if jobs.empty:
        page.text(f"`{path.as_posix()}` holds no job.")
        return
    run, total = closing.loc["run"], closing.loc["total"]
    page.text(
        f"The run took **{run['wall']}** ({run['wall_s']:,.0f} s) of wall time, with at least one of its "
        f"{len(jobs)} job{'s' * (len(jobs) != 1)} running, from {run['started']} to {run['ended']}. The jobs' own "
        f"times add up to {total['wall']} ({total['wall_s']:,.0f} s)."
    )
    page.table(
        [
            "job",
            "kind",
            "wall time",
            "seconds",
            "max RSS (MiB)",
            "GPU peak (MiB)",
            "retries",
            "device",
            "started",
            "phases",
        ],
        [
            [
                plain(j.job),
                j.kind,
                j.wall,
                f"{j.wall_s:,.1f}",
                _whole(j.max_rss_mib),
                _whole(j.gpu_peak_mib),
                _whole(j.gpu_alloc_retries),
                plain(j.device),
                j.started,
                plain(j.phases),
            ]
            for j in jobs.itertuples()
        ],
    )
    page.text(f"The same table, with the two closing lines: `{path.as_posix()}`.")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", required=True, choices=["smoke", "mini", "paper"])
    parser.add_argument("--benchmarks", default=None, help="the jobs' benchmarks (default: benchmarks/<scale>)")
    parser.add_argument("--out", default=None, help="the table (default: results/<scale>/jobs.csv)")


def run(args: argparse.Namespace) -> int:
    benchmarks = Path(args.benchmarks or Path("benchmarks") / args.scale)
    out = Path(args.out or Path("results") / args.scale / "jobs.csv")
    if not benchmarks.is_dir():
        raise ReproError(
            f"no benchmarks in {benchmarks}: the workflow writes one per job there (snakemake --config "
            f"scale={args.scale}); name another folder with --benchmarks"
        )
    jobs = gather_jobs(benchmarks)
    run_line = write_jobs(jobs, out).set_index("kind").loc["run"]
    print(f"{len(jobs)} jobs in {out}: the run took {run_line['wall']} with a job running")
    return 0
