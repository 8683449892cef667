"""``repro bench NAME [ARGS...]``: run a GPU benchmark script from ``bench/`` (``repro bench list`` names them).

The scripts live beside the package, not in it, because they are measurements of the package's own fast
paths rather than part of the library; each writes its CSVs under ``results/bench/`` by default.
"""

from __future__ import annotations

import argparse
import runpy
import sys

from .errors import ReproError
from .paths import REPO_ROOT

BENCH_DIR = REPO_ROOT / "bench"


def available() -> dict[str, str]:
    """Benchmark name -> the first line of its docstring."""
    found = {}
    for script in sorted(BENCH_DIR.glob("*.py")):
        doc = script.read_text().split('"""')
        found[script.stem] = doc[1].strip().splitlines()[0] if len(doc) > 2 else ""
    return found


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="benchmark name (bench/<name>.py), or `list`")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")


def run(args: argparse.Namespace) -> int:
    scripts = available()
    if args.name == "list":
        for name, doc in scripts.items():
            print(f"{name:28s} {doc}")
        return 0
    if args.name not in scripts:
        raise ReproError(f"unknown benchmark {args.name!r}; `repro bench list` names them: {', '.join(scripts)}")
    sys.argv = [str(BENCH_DIR / f"{args.name}.py"), *args.args]
    runpy.run_path(sys.argv[0], run_name="__main__")
    return 0
