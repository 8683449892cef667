"""``repro bench NAME [ARGS...]``: run a GPU benchmark script from ``bench/`` (``repro bench list`` names them).

The scripts live in a checkout beside the package, not in it, because they are measurements of the package's own
fast paths rather than part of the library; each writes its CSVs under ``results/bench/`` by default. They are
found in ``--bench-dir`` (default ``bench`` in the working folder: run it from the checkout).
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

from .errors import ReproError


def available(bench_dir: Path) -> dict[str, str]:
    """Benchmark name -> the first line of its docstring."""
    scripts = sorted(bench_dir.glob("*.py"))
    if not scripts:
        raise ReproError(f"no benchmark scripts in {bench_dir}; run from the checkout or give --bench-dir")
    found = {}
    for script in scripts:
        doc = script.read_text().split('"""')
        found[script.stem] = doc[1].strip().splitlines()[0] if len(doc) > 2 else ""
    return found


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="benchmark name (bench/<name>.py), or `list`")
    parser.add_argument("--bench-dir", default="bench", help="folder of the benchmark scripts (default: ./bench)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")


def run(args: argparse.Namespace) -> int:
    bench_dir = Path(args.bench_dir)
    scripts = available(bench_dir)
    if args.name == "list":
        for name, doc in scripts.items():
            print(f"{name:28s} {doc}")
        return 0
    if args.name not in scripts:
        raise ReproError(f"unknown benchmark {args.name!r}; `repro bench list` names them: {', '.join(scripts)}")
    sys.argv = [str(bench_dir / f"{args.name}.py"), *args.args]
    runpy.run_path(sys.argv[0], run_name="__main__")
    return 0
