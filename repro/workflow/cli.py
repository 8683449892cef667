"""``repro run ID --scale S``: execute one experiment's notebook outside Snakemake (same code path)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..arguments import NONNEGATIVE, listed
from .notebook import run_notebook
from .registry import load_config, load_registry, select


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="experiment id (config/experiments/<id>.yaml)")
    parser.add_argument("--scale", default=None, help="smoke | mini | paper (default: config.yaml's)")
    parser.add_argument("--out", default=None, help="output folder (default: results/<scale>/<id>)")
    parser.add_argument("--executed", default=None, help="executed notebook path (default: <out>/<id>.ipynb)")
    parser.add_argument("--failed", default=None, help="where a failing run's executed copy goes")
    parser.add_argument("--data-root", default=None, help="offline data folder (default: $REPRO_DATA)")
    parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seeds", type=listed(NONNEGATIVE), default=None,
                        help="comma-separated seeds overriding the registry's")
    parser.add_argument("--work-dir", default=None, help="folder of the shared assets, per scale (default: work)")


def run(args: argparse.Namespace) -> int:
    given = {"scale": args.scale, "data_root": args.data_root, "device": args.device, "work_dir": args.work_dir}
    overrides = {k: v for k, v in given.items() if v}
    if args.seeds:
        overrides["seeds"] = list(args.seeds)
    config = load_config(overrides)
    (experiment,) = select(load_registry(), [args.experiment])
    scale = config["scale"]
    out = Path(args.out or Path(config["results_dir"]) / scale / experiment.id)
    executed = Path(args.executed or out / f"{experiment.id}.ipynb")
    run_notebook(experiment, scale, out, executed, args.failed, config)
    print(f"{experiment.id} at scale {scale}: executed notebook {executed}")
    return 0
