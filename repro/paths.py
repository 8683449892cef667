"""Where things live: the offline data folder and the decode cache (both named by the user, never guessed)."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming a folder with offline copies of the datasets (``../shared/data`` here).
DATA_ENV = "REPRO_DATA"
#: Environment variable naming the folder for decoded-array caches and downloads.
CACHE_ENV = "REPRO_CACHE"


def data_root(override: str | os.PathLike | None = None) -> Path | None:
    """The offline data folder: an explicit argument, else ``$REPRO_DATA``, else none (download instead)."""
    value = override if override not in (None, "") else os.environ.get(DATA_ENV)
    return Path(value).expanduser().resolve() if value else None


def cache_root(override: str | os.PathLike | None = None) -> Path:
    """Folder for decoded arrays and official downloads: argument, ``$REPRO_CACHE``, or ``~/.cache/repro``."""
    value = override if override not in (None, "") else os.environ.get(CACHE_ENV)
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "repro"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()
