"""``repro report``: render reports/<scale>/ from the result folders of a scale and the registry; ``--check``
opens every page in headless Chromium and fails on what a reader would see wrong, ``--screenshot`` saves the
index as it looks there; ``--readme`` writes the scale's scoreboard into a README instead."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ReproError
from ..results.tables import load_results
from ..workflow.registry import Experiment, load_registry, select
from .render import render_report, stale_notes
from .scoreboard import write_readme_scoreboard
from .verdicts import RAN, artifact_outcome


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", required=True, choices=["smoke", "mini", "paper"])
    parser.add_argument("--config-dir", default="config", help="the project's config folder (default: ./config)")
    parser.add_argument("--experiments", default="", help="comma-separated ids (default: all)")
    parser.add_argument(
        "--runs",
        nargs="*",
        default=[],
        metavar="FOLDER",
        help="result folders <results>/<scale>/<id> to report (the workflow names its inputs); "
        "an experiment not named here is read from --results",
    )
    parser.add_argument("--results", default="results", help="results root for the others (default: results)")
    parser.add_argument("--out", default=None, help="folder of the pages (default: reports/<scale>)")
    parser.add_argument("--logs", default="logs", help="where failed notebooks are kept (default: logs)")
    parser.add_argument(
        "--jobs",
        nargs="+",
        default=None,
        metavar="TABLE",
        help="the jobs table to show, or one per run where the scale's DAG ran in several (default: "
        "<results>/<scale>/jobs.csv, where it exists)",
    )
    parser.add_argument(
        "--readme",
        default=None,
        metavar="FILE",
        help="write the scoreboard between FILE's <!-- scoreboard:begin --> and <!-- scoreboard:end --> lines, "
        "linked to the pages in --out, and render nothing else",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="open every page in headless Chromium: no Markdown syntax, working links, loaded images",
    )
    parser.add_argument(
        "--screenshot", default=None, help="PNG of the index page as Chromium shows it (implies --check)"
    )


def run(args: argparse.Namespace) -> int:
    if args.screenshot and Path(args.screenshot).suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ReproError(f"--screenshot {args.screenshot}: name a .png (or .jpg) file, e.g. reports/index.png")
    ids = [i for i in args.experiments.split(",") if i]
    experiments = select(load_registry(Path(args.config_dir)), ids)
    runs = {e.id: Path(args.results) / args.scale / e.id for e in experiments}
    for folder in map(Path, args.runs):
        if folder.name not in runs:
            raise ReproError(
                f"--runs names {folder}, but {folder.name!r} is not one of the reported experiments "
                f"({', '.join(runs)}); a result folder is named by its experiment id"
            )
        runs[folder.name] = folder
    out = Path(args.out or Path("reports") / args.scale)
    if args.readme:
        return _write_readme(Path(args.readme), experiments, args.scale, runs, out, Path(args.logs))
    missing = [table for table in args.jobs or () if not Path(table).exists()]
    if missing:
        raise ReproError(
            f"--jobs names {', '.join(missing)}, which does not exist; `repro jobs --scale {args.scale}` writes a "
            "run's table"
        )
    default = Path(args.results) / args.scale / "jobs.csv"
    jobs = [Path(table) for table in args.jobs] if args.jobs else [default] if default.exists() else []
    index = render_report(experiments, args.scale, runs, out, Path(args.logs), jobs)
    print(f"report written: {index} (and .html)")
    if not (args.check or args.screenshot):
        return 0
    from .browser import check_pages

    extra = ["scoreboard", *(["jobs"] if jobs else [])]
    pages = [index.with_suffix(".html"), *(out / f"{name}.html" for name in extra + [e.id for e in experiments])]
    checks = check_pages(pages, Path(args.screenshot) if args.screenshot else None)
    for check in checks:
        for problem in check.problems:
            print(f"{check.page}: {problem}")
    bad = sum(bool(c.problems) for c in checks)
    print(
        f"checked {len(checks)} pages in Chromium: {bad} with problems"
        + (f"; screenshot {args.screenshot}" if args.screenshot else "")
    )
    return 1 if bad else 0


def _write_readme(
    readme: Path, experiments: list[Experiment], scale: str, runs: dict[str, Path], pages: Path, logs: Path
) -> int:
    """The scoreboard of the result folders ``runs`` into ``readme``'s block; refused where none of them ran."""
    outcomes = [artifact_outcome(e, scale, runs[e.id], logs) for e in experiments]
    if not any(status.label in RAN for status, _ in outcomes):
        looked = ", ".join(sorted({str(folder.parent) for folder in runs.values()}))
        raise ReproError(
            f"no experiment has results at scale {scale} in {looked}: run the workflow first "
            f"(snakemake --cores all --config scale={scale})"
        )
    verdicts = [v for _, claims in outcomes for v in claims]
    stale = [
        e.id
        for e in experiments
        if not e.skip_reason(scale) and stale_notes(e, scale, runs[e.id], load_results(runs[e.id]))
    ]
    write_readme_scoreboard(readme, verdicts, scale, pages, stale)
    print(f"scoreboard of scale {scale} ({len(verdicts)} claims) written into {readme}")
    return 0
