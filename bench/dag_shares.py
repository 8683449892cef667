"""How long a scale's whole DAG takes on one GPU, projected from the runs that measured its jobs.

A run's jobs share the GPU: while n of them run, each second of wall time is split evenly between them, so a job's
share is the integral of 1/n over its run time, and the shares of one run add up to its wall time (the seconds in
which at least one of its jobs ran). A job measured in several runs (their ``jobs.csv``, ``repro jobs``) counts
with its latest; the projection of the whole scale is the sum of its jobs' shares: the wall time of a run of all of
them, were they to share the GPU as they did where they were measured. A job stopped before its end (a run cut off
at its time limit: its phases say "until stopped") counts with its latest finished run; where no run finished it,
with its stopped one, named as a lower bound. Jobs that no run measured are named.

    python bench/dag_shares.py results/bench/mini_dag_*/jobs.csv               # every job, its share, the total
    python bench/dag_shares.py results/bench/mini_dag_*/jobs.csv --out shares.csv
    python bench/dag_shares.py results/bench/mini_dag_*/jobs.csv --split 2   # the DAG in two runs of its experiments
    python bench/dag_shares.py results/bench/mini_dag_*/jobs.csv --split 1 --experiments di_fig4_runtime,...

``--split N`` shares the experiments out over N runs (one GPU session each, say) so that the longest is as short as
it can be made: a run's minutes are the shares of its experiments and of every asset they wait for (an asset two
runs need is made in both). Each run is printed with the ``DAG_CONFIG`` that makes ``bench/mini_dag.sh`` run it.
``--experiments`` shares out only the named ones: the rest of a DAG that a run finished in part (``--split 1``: the
minutes of one run of them, with their assets).

What it assumes: the GPU was the bottleneck of every run (the share of a job that waited on its own start-up, its
data or its CPU work is counted as if it had used the GPU), and each run shared it as the run of all would. A run
with fewer jobs at once, or without NVIDIA's MPS, gives its jobs larger shares than a full run under MPS would: the
projection then is an upper bound. The runs' jobs-at-once are printed so that a reader can tell them apart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from repro.arguments import listed
from repro.errors import ReproError
from repro.report.jobs import read_jobs
from repro.workflow.jobstats import UNTIL_STOPPED
from repro.workflow.registry import awaited_assets, load_registry, load_scale

ROOT = Path(__file__).resolve().parents[1]


def shares(jobs: pd.DataFrame) -> pd.Series:
    """Each job's share of its run's wall time, in seconds: the integral of 1/(jobs running) over its run time."""
    start = pd.to_datetime(jobs["started"])
    end = pd.to_datetime(jobs["ended"])
    origin = start.min()
    begins = (start - origin).dt.total_seconds().to_numpy()
    ends = (end - origin).dt.total_seconds().to_numpy()
    # between consecutive start or end times the number of jobs running is constant
    edges = np.unique(np.concatenate([begins, ends]))
    middles = (edges[:-1] + edges[1:]) / 2
    inside = (begins[None, :] <= middles[:, None]) & (ends[None, :] > middles[:, None])  # [interval, job]
    running = inside.sum(axis=1)
    each = np.diff(edges) / np.maximum(running, 1)  # an interval's seconds over the jobs running in it
    return pd.Series((inside * each[:, None]).sum(axis=0), index=jobs.index)


def measured(tables: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every job's latest measurement over the runs (job, kind, run, wall_s, share_s, stopped), a finished one
    where some run finished the job, and one line per run."""
    rows, runs = [], []
    for path in tables:
        if not path.is_file():
            raise ReproError(f"{path} is missing: name each run's jobs.csv (repro jobs --scale <scale>)")
        jobs, _ = read_jobs(path)
        if jobs.empty:
            continue
        # a stopped job held its share of the GPU too: it stays in the run's shares, though not as the job's cost
        stopped = jobs["phases"].fillna("").str.contains(UNTIL_STOPPED, regex=False)
        jobs = jobs.assign(
            run=path.parent.name, share_s=shares(jobs), ended_at=pd.to_datetime(jobs["ended"]), stopped=stopped
        )
        wall = float(jobs["share_s"].sum())
        total = float(jobs["wall_s"].sum())
        runs.append({"run": path.parent.name, "jobs": len(jobs), "wall_s": wall, "at_once": total / wall})
        rows.append(jobs[["job", "kind", "run", "wall_s", "share_s", "stopped", "ended_at"]])
    if not rows:
        raise ReproError("none of the tables holds a job: name the jobs.csv of runs that finished some")
    # finished runs after stopped ones, each group by its end: the last row of a job is the one that counts
    every = pd.concat(rows, ignore_index=True).sort_values(["stopped", "ended_at"], ascending=[False, True])
    latest = every.drop_duplicates("job", keep="last").drop(columns="ended_at")
    return latest.sort_values("share_s", ascending=False, ignore_index=True), pd.DataFrame(runs)


def scale_jobs(config_dir: Path, scale: str) -> tuple[list[str], list[str]]:
    """The scale's shared assets and its experiments: the jobs of a run of the whole DAG."""
    assets = sorted(load_scale(config_dir, scale).get("assets", {}))
    return assets, sorted(load_registry(config_dir))


def split(needs: dict[str, set[str]], minutes: dict[str, float], runs: int) -> list[list[str]]:
    """The experiments of ``needs`` (experiment -> the assets it waits for) in ``runs`` groups whose longest run is
    short: each group's minutes are its experiments' and its assets' ``minutes`` (a job not in ``minutes`` costs
    nothing). The costliest experiments are placed first, each where it lengthens the longest run least; then an
    experiment moves to another run, or two runs swap one each, while that shortens the longest run (or, as long,
    the runs' sum: fewer assets made twice): a deterministic local optimum."""

    def length(group: frozenset[str]) -> float:
        assets = set().union(*(needs[e] for e in group)) if group else set()
        return sum(minutes.get(job, 0.0) for job in group | assets)

    def objective(groups: list[frozenset[str]]) -> tuple[float, float]:
        lengths = [length(g) for g in groups]
        return round(max(lengths), 9), round(sum(lengths), 9)

    def neighbours(groups: list[frozenset[str]]):
        for i, j in ((i, j) for i in range(runs) for j in range(runs) if i != j):
            for a in sorted(groups[i]):
                yield {i: groups[i] - {a}, j: groups[j] | {a}}
                for b in sorted(groups[j]) if i < j else ():
                    yield {i: groups[i] - {a} | {b}, j: groups[j] - {b} | {a}}

    groups = [frozenset()] * runs
    for experiment in sorted(needs, key=lambda e: (-length(frozenset({e})), e)):
        options = [[g | {experiment} if k == i else g for k, g in enumerate(groups)] for i in range(runs)]
        groups = min(options, key=objective)
    improved = True
    while improved:
        improved = False
        for change in neighbours(groups):
            candidate = [change.get(k, g) for k, g in enumerate(groups)]
            if objective(candidate) < objective(groups):
                groups, improved = candidate, True
                break
    return sorted((sorted(g) for g in groups if g), key=lambda g: (-length(frozenset(g)), g))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tables", nargs="+", type=Path, help="the runs' jobs.csv, any order (the latest run of a job wins)")
    p.add_argument("--scale", default="mini", help="whose jobs the projection must cover (default mini)")
    p.add_argument("--config-dir", type=Path, default=ROOT / "config")
    p.add_argument("--budget-minutes", type=float, default=20.0, help="the scale's wall-time budget (default 20)")
    p.add_argument("--out", type=Path, help="CSV of the jobs' latest measurements and shares")
    p.add_argument("--split", type=int, default=0, metavar="N", help="share the experiments out over N runs")
    p.add_argument(
        "--experiments", type=listed(str), help="with --split: only these experiments (comma list), e.g. those left"
    )
    args = p.parse_args(argv)
    if args.split < 0:
        p.error(f"--split {args.split}: give a number of runs, at least 1")
    if args.experiments and not args.split:
        p.error("--experiments names what --split shares out: give --split N too")
    try:
        latest, runs = measured(args.tables)
        assets, experiments = scale_jobs(args.config_dir, args.scale)
    except ReproError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    wanted = {(name, "asset") for name in assets} | {(name, "experiment") for name in experiments}
    latest = latest[[(job, kind) in wanted for job, kind in zip(latest["job"], latest["kind"])]]
    missing = sorted(f"{name} ({kind})" for name, kind in wanted - set(zip(latest["job"], latest["kind"])))
    pd.set_option("display.width", 200)
    print("runs (wall_s: the seconds in which a job ran; at_once: the jobs' summed time over it):")
    print(runs.round(1).to_string(index=False))
    table = latest.assign(wall_min=latest["wall_s"] / 60, share_min=latest["share_s"] / 60)
    print()
    print(table[["job", "kind", "run", "wall_min", "share_min", "stopped"]].round(2).to_string(index=False))
    print()
    print(table.groupby("kind")["share_min"].sum().round(1).to_string())
    total = float(table["share_min"].sum())
    verdict = "within" if total <= args.budget_minutes else "over"
    print(
        f"\n{args.scale}: {len(table)} of its {len(wanted)} jobs measured; their shares add up to {total:.1f} minutes "
        f"of wall time, {verdict} the budget of {args.budget_minutes:g}"
    )
    cut = table.loc[table["stopped"], "job"].tolist()
    if cut:
        print(f"stopped before their end in every run (in the total as lower bounds): {', '.join(cut)}")
    if missing:
        print(f"not measured by these runs (not in the total): {', '.join(missing)}")
    if args.split:
        scale_spec = load_scale(args.config_dir, args.scale)
        registry = load_registry(args.config_dir)
        needs = {
            e.id: awaited_assets(e, args.scale, scale_spec) for e in registry.values() if not e.skip_reason(args.scale)
        }
        unknown = sorted(set(args.experiments or ()) - set(needs))
        if unknown:
            print(
                f"error: --experiments {', '.join(unknown)}: not an experiment run at {args.scale} "
                f"(those are {', '.join(sorted(needs))})",
                file=sys.stderr,
            )
            return 2
        if args.experiments:
            needs = {e: needs[e] for e in args.experiments}
        minutes = dict(zip(table["job"], table["share_min"]))
        print(f"\nthe experiments in {args.split} runs, each with the assets it waits for:")
        for number, group in enumerate(split(needs, minutes, args.split), 1):
            assets = set().union(*(needs[e] for e in group))
            spent = sum(minutes.get(job, 0.0) for job in assets)
            print(
                f"run {number}: {sum(minutes.get(e, 0.0) for e in group) + spent:.1f} minutes ({spent:.1f} of them "
                f"its {len(assets)} assets): DAG_CONFIG='experiments=[{','.join(group)}]'"
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.drop(columns=["wall_s", "share_s"]).round(3).to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
