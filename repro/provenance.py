"""Provenance columns that every result row carries, and the CSV writer that adds them.

A reviewer must be able to tell, from any number in ``results/``, which code, configuration, machine and
scale produced it and how long it took.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

PROVENANCE_COLUMNS = (
    "experiment",
    "scale",
    "generator",
    "dataset",
    "seed",
    "git_commit",
    "config_hash",
    "device",
    "wall_seconds",
)


#: the package's own folder: its repository's commit is the code that ran
PACKAGE_DIR = Path(__file__).resolve().parent
#: names the commit of a copy of the code that has no git history (a GPU machine that got the working tree)
COMMIT_ENV = "REPRO_GIT_COMMIT"


def git_commit(root: Path = PACKAGE_DIR) -> str:
    """The commit of the code that ran (the repository holding this package, by default), with ``+dirty`` when
    tracked files differ from it; ``$REPRO_GIT_COMMIT`` where it is set (a copy of the tree without ``.git``);
    ``unknown`` otherwise (an installed wheel)."""
    if os.environ.get(COMMIT_ENV):
        return os.environ[COMMIT_ENV]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def config_hash(config: Mapping[str, Any]) -> str:
    """A short, order-independent hash of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def changed_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """The settings whose values differ between two JSON records (nested dicts flattened with dots), each with
    both values: what a resume refusal names."""

    def flat(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        items: dict[str, Any] = {}
        for key, value in json.loads(json.dumps(record, default=str)).items():
            if isinstance(value, dict):
                items.update(flat(value, f"{prefix}{key}."))
            else:
                items[f"{prefix}{key}"] = value
        return items

    before, after = flat(old), flat(new)
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return "; ".join(f"{k}: {before.get(k)!r} there, {after.get(k)!r} now" for k in keys)


def device_name() -> str:
    """The accelerator the run used (GPU model), else the CPU."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return f"cpu:{platform.processor() or platform.machine()}"


@dataclass
class Provenance:
    """The fixed part of a run's provenance; ``row()`` adds the per-cell part."""

    experiment: str
    scale: str
    config: Mapping[str, Any] = field(default_factory=dict)
    generator: str = ""
    dataset: str = ""

    def __post_init__(self) -> None:
        self.git_commit = git_commit()
        self.config_hash = config_hash(self.config)
        self.device = device_name()

    def row(self, *, seed: int | None = None, wall_seconds: float | None = None, **fields: Any) -> dict:
        """One result row: measured ``fields`` plus every provenance column."""
        base = {
            "experiment": self.experiment,
            "scale": self.scale,
            "generator": fields.pop("generator", self.generator),
            "dataset": fields.pop("dataset", self.dataset),
            "seed": seed,
            "git_commit": self.git_commit,
            "config_hash": self.config_hash,
            "device": self.device,
            "wall_seconds": None if wall_seconds is None else round(float(wall_seconds), 3),
        }
        return {**fields, **base}


@contextmanager
def timed():
    """``with timed() as t: ...`` then ``t()`` gives the elapsed wall seconds."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


#: wall seconds of the named phases of this process's work (:func:`phase`)
_phases: dict[str, float] = {}
#: per thread, the seconds spent in the phases nested inside each of its open phases, innermost last
_nesting = threading.local()
#: called with no arguments whenever a phase ends (:func:`on_phase_end`)
_phase_listeners: list[Callable[[], None]] = []


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time a phase of this process's work (loading the data, the generator, the inversion itself), added up over
    its calls: a workflow job records them (``repro.workflow.jobstats``), so its jobs table says where the job's
    wall time went, beside what came before the first phase (imports, start-up). A phase opened inside another
    counts its own seconds and the outer one the rest, so the phases never add up to more than the process's time:
    library functions declare their phase wherever they are called from (a notebook, a command, another phase)."""
    if not hasattr(_nesting, "open"):
        _nesting.open = []
    open_phases = _nesting.open
    start = time.perf_counter()
    open_phases.append(0.0)
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        nested = open_phases.pop()
        _phases[name] = _phases.get(name, 0.0) + elapsed - nested
        if open_phases:
            open_phases[-1] += elapsed
        for listener in _phase_listeners:
            listener()


def phase_seconds() -> dict[str, float]:
    """The seconds of each phase this process has timed so far, in the order they first ended."""
    return dict(_phases)


def on_phase_end(listener: Callable[[], None]) -> None:
    """Call ``listener`` whenever a phase ends: a workflow job records its phases as it goes, so a job stopped
    before its end still says where its time went (``repro.workflow.jobstats``)."""
    _phase_listeners.append(listener)


def write_rows(rows: Iterable[Mapping[str, Any]], path: str | Path) -> pd.DataFrame:
    """Write result rows to CSV (atomically), checking that every provenance column is present."""
    frame = pd.DataFrame(list(rows))
    missing = [c for c in PROVENANCE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"result rows for {path} lack provenance columns {missing}; build them with Provenance.row()")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return frame


class RowsFile:
    """A CSV of result rows rewritten after every added row, so a run stopped part-way (a time limit, an out-of-
    memory kill) keeps every row it finished."""

    def __init__(self, path: str | Path):
        self.path, self.rows = Path(path), []

    def add(self, row: Mapping[str, Any]) -> None:
        self.rows.append(row)
        write_rows(self.rows, self.path)
