"""Finished classifier trainings of a notebook, kept in its work folder, so that a notebook stopped in the middle of
its grid (a device call's time limit, a crash) trains on its rerun only what it had not trained yet.

A training is kept under a key that hashes everything its recorded rows depend on: the package's code (every
source file), the experiment, its scale and params, the device, the training's keywords (table, row, arch, steps,
seed, augmentation, extra fields) and the content of its training, validation and test images. A changed knob,
image or line of code gives a new key, so a kept training is reused only where the rerun would train the same
model on the same images; ``work/<scale>/<id>/trainings/`` may be deleted at any time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..files import write_text_atomic
from ..memo import once_per_object

PACKAGE_DIR = Path(__file__).resolve().parents[1]

#: content hashes of the image arrays met so far, by object; an entry leaves with its array
_digests: dict[int, str] = {}


@cache
def code_digest() -> str:
    """One hash of every source file of the package: a training kept by other code is not reused."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(f"{path.relative_to(PACKAGE_DIR)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def array_digest(array: np.ndarray) -> str:
    """The content hash of an array (its dtype, shape and bytes), computed once per array object."""
    return once_per_object(_digests, array, _content_hash)


def _content_hash(array: np.ndarray) -> str:
    digest = hashlib.blake2b(f"{array.dtype}{array.shape}".encode(), digest_size=16)
    digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def describe(value: Any) -> Any:
    """``value`` as JSON that changes whenever what a training computes from it changes: arrays by content,
    dataclasses (image sets, training data) field by field, mappings and sequences item by item."""
    if isinstance(value, np.ndarray):
        return array_digest(value)
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: describe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def plain(value: Any) -> Any:
    """A recorded field that JSON has no type for: numpy scalars as Python numbers, anything else (a path) as the
    text the results CSV shows of it."""
    return value.item() if isinstance(value, np.generic) else str(value)


class TrainingStore:
    """The kept trainings of one experiment run: ``load(key)`` a training's rows and scores, ``save`` them."""

    def __init__(self, run):
        self.folder = run.scratch("trainings")
        # what every training of the run shares, described once
        self.run_identity = {
            "code": code_digest(),
            "experiment": run.experiment,
            "scale": run.scale,
            "params": describe(run.params),
            "device": run.device,
        }

    def key(self, training: Mapping[str, Any]) -> str:
        identity = {**self.run_identity, "training": describe(training)}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]

    def load(self, key: str) -> dict | None:
        """``{"rows": [record keywords...], "scores": {column: top-1}}`` of a kept training, else None."""
        path = self.folder / f"{key}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def save(self, key: str, kept: Mapping[str, Any]) -> dict:
        """Keep a finished training (written whole or not at all); returns it as ``load`` will read it back."""
        text = json.dumps(kept, default=plain)
        write_text_atomic(text, self.folder / f"{key}.json")
        return json.loads(text)
