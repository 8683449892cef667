"""The decode cache: uint8 arrays in ``.npz`` files under ``cache_root()/arrays``, decoded once.

A file's name ends in a hash of everything its content depends on (the source's fingerprint, e.g. the
archive's sha256, the image size and the decoder's version), so a changed archive or a new size simply
misses the cache. Files are written to a temporary name in the same folder and renamed into place: an
interrupted ``prepare`` leaves no half-written cache behind, and concurrent writers cannot corrupt one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..paths import cache_root

#: bump when decoding changes what arrays a source yields, so that old caches are not reused
DECODE_VERSION = 1


def cache_file(stem: str, key: Mapping) -> Path:
    digest = hashlib.sha256(json.dumps({**key, "version": DECODE_VERSION}, sort_keys=True).encode()).hexdigest()
    return cache_root() / "arrays" / f"{stem}-{digest[:16]}.npz"


def save_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` via a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial"
    # os.open with mode 0o666 honours the umask (mkstemp would make the cache private to one user)
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None when it is missing or unreadable (it is then rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError):
        return None


def cached(stem: str, key: Mapping, build: Callable[[], Mapping[str, np.ndarray]]) -> tuple[dict, bool]:
    """``(arrays, was_cached)``: the cached arrays for ``key``, building and saving them on a miss."""
    path = cache_file(stem, key)
    arrays = load_arrays(path)
    if arrays is not None:
        return arrays, True
    arrays = dict(build())
    save_atomic(path, arrays)
    return arrays, False
