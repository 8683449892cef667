"""The ``repro`` console command: one subcommand per core, so each runs outside the workflow too.

Each subcommand lives in its layer as a module with ``configure(parser)`` and ``run(args) -> int``; it is
imported only when called, so a slow import (torch, diffusers) never delays ``repro --help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import ReproError
from .workflow.jobstats import record_gpu_peak_at_exit

COMMANDS = {
    "data": ("repro.data.cli", "list, prepare and verify datasets"),
    "invert": ("repro.inversion.cli", "Diffusion Inversion stage 1: learn one embedding per image"),
    "sample": ("repro.sampling.cli", "Diffusion Inversion stage 2: sample a synthetic dataset"),
    "train": ("repro.classifiers.cli", "train and evaluate a classifier"),
    "ddis": ("repro.ddis.cli", "DDIS: class tokens and data-free synthesis, DeepInversion, distillation"),
    "metrics": ("repro.metrics.cli", "FID/IS/KID/precision/recall/density/coverage of two image sets"),
    "pretrain": ("repro.pretrain.cli", "pretrain the embedded mini text-to-image model"),
    "bench": ("repro.bench", "GPU performance benchmarks"),
    "run": ("repro.workflow.cli", "run one experiment's notebook at a scale (what the workflow runs)"),
    "notebook": ("repro.workflow.prepare", "prepare one experiment's notebook at a scale for JupyterLab"),
    "report": ("repro.report.cli", "render reports from result CSVs"),
    "jobs": ("repro.report.jobs", "gather the workflow's per-job time and peak memory into one table"),
}


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, str | None]:
    parser = argparse.ArgumentParser(prog="repro", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module).configure(sp)
    return parser, chosen


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, chosen = build_parser(argv)
    if chosen is not None and chosen not in COMMANDS:
        parser.error(f"unknown command {chosen!r}; choose one of {', '.join(COMMANDS)}")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    record_gpu_peak_at_exit()  # where a workflow job asks for it: repro.workflow.jobstats
    try:
        return int(module.run(args) or 0)
    except ReproError as err:
        print(f"repro {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
