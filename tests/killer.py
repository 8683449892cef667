"""Run a `repro` command that SIGKILLs itself at a chosen point, for the kill-and-resume tests.

    python -m tests.killer [--kill MODULE:QUALNAME:N] [--setup MODULE:FUNCTION] -- ARGS...

runs ``repro ARGS`` in one torch thread (as the tests in-process do, so results compare bit for bit). With
``--kill``, the function or method ``QUALNAME`` of ``MODULE`` is wrapped so that the process sends itself
SIGKILL right after its N-th call returns: no ``finally`` block, no exit handler runs, like a job killed by a
scheduler or the OOM killer. ``--setup`` first calls a function (e.g. one that swaps in a small data set).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import signal
import sys


def kill_after(target: str) -> None:
    module_name, qualname, count = target.split(":")
    owner = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = 0

    @functools.wraps(original)
    def wrapped(*args, **kwargs):
        nonlocal calls
        result = original(*args, **kwargs)
        calls += 1
        if calls == int(count):
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, wrapped)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill")
    parser.add_argument("--setup")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.setup:
        module_name, function = args.setup.split(":")
        getattr(importlib.import_module(module_name), function)()
    if args.kill:
        kill_after(args.kill)
    from repro.cli import main as repro

    return repro(args.command[1:] if args.command[:1] == ["--"] else args.command)


if __name__ == "__main__":
    sys.exit(main())
