"""``repro run ID --scale S``: execute one experiment's notebook outside Snakemake (same code path)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..arguments import NONNEGATIVE, listed
from .notebook import run_notebook
from .registry import Experiment, load_config, load_registry, select


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """What names one experiment's run: shared by ``repro run`` and ``repro notebook``."""
    parser.add_argument("experiment", help="experiment id (config/experiments/<id>.yaml)")
    parser.add_argument("--config-dir", default="config", help="the project's config folder (default: ./config)")
    parser.add_argument("--scale", default=None, help="smoke | mini | paper (default: config.yaml's)")
    parser.add_argument("--data-root", default=None, help="offline data folder (default: $REPRO_DATA)")
    parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--seeds", type=listed(NONNEGATIVE), default=None, help="comma-separated seeds overriding the registry's"
    )
    parser.add_argument("--work-dir", default=None, help="folder of the shared assets, per scale (default: work)")


def experiment_and_config(args: argparse.Namespace) -> tuple[Experiment, dict]:
    """The experiment ``args`` name and the workflow configuration with their overrides, validated."""
    given = {"scale": args.scale, "data_root": args.data_root, "device": args.device, "work_dir": args.work_dir}
    overrides = {k: v for k, v in given.items() if v}
    if args.seeds:
        overrides["seeds"] = list(args.seeds)
    config_dir = Path(args.config_dir)
    config = load_config(config_dir, overrides)
    (experiment,) = select(load_registry(config_dir), [args.experiment])
    return experiment, config


def configure(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument("--out", default=None, help="output folder (default: results/<scale>/<id>)")
    parser.add_argument("--executed", default=None, help="executed notebook path (default: <out>/<id>.ipynb)")
    parser.add_argument("--failed", default=None, help="where a failing run's executed copy goes")


def run(args: argparse.Namespace) -> int:
    experiment, config = experiment_and_config(args)
    scale = config["scale"]
    out = Path(args.out or Path(config["results_dir"]) / scale / experiment.id)
    executed = Path(args.executed or out / f"{experiment.id}.ipynb")
    run_notebook(experiment, scale, out, executed, args.failed, config)
    print(f"{experiment.id} at scale {scale}: executed notebook {executed}")
    return 0
