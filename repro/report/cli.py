"""``repro report``: render reports/<scale>/ from results/<scale>/ and the registry."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..workflow.registry import load_registry, select
from .render import render_report


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", required=True, choices=["smoke", "mini", "paper"])
    parser.add_argument("--results", default="results", help="results folder (default: results)")
    parser.add_argument("--reports", default="reports", help="reports folder (default: reports)")
    parser.add_argument("--logs", default="logs", help="where failed notebooks are kept (default: logs)")
    parser.add_argument("--experiments", default="", help="comma-separated ids (default: all)")


def run(args: argparse.Namespace) -> int:
    ids = [i for i in args.experiments.split(",") if i]
    experiments = select(load_registry(), ids)
    index = render_report(experiments, args.scale, Path(args.results), Path(args.reports), Path(args.logs))
    print(f"report written: {index} (and .html)")
    return 0
