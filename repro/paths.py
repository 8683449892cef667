"""Where things live: the offline data folder and the decode cache (both named by the user, never guessed)."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming a folder with offline copies of the datasets (``../shared/data`` here).
DATA_ENV = "REPRO_DATA"
#: Environment variable naming the folder for decoded-array caches and downloads.
CACHE_ENV = "REPRO_CACHE"


def data_root(override: str | os.PathLike | None = None) -> Path | None:
    """The offline data folder: an explicit argument, else ``$REPRO_DATA``, else none (download instead).

    A folder that does not exist is an error (a typo would otherwise send every dataset to a download)."""
    given = override not in (None, "")
    value = override if given else os.environ.get(DATA_ENV)
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        from .errors import ReproError

        named = "data_root (--config data_root=..., --data-root)" if given else f"${DATA_ENV}"
        raise ReproError(
            f"the data folder {path} named by {named} is not an existing folder; point it at the "
            f"folder of offline datasets (e.g. ../shared/data), or leave it empty and unset ${DATA_ENV} "
            "to download the datasets into $REPRO_CACHE"
        )
    return path


def cache_root(override: str | os.PathLike | None = None) -> Path:
    """Folder for decoded arrays and official downloads: argument, ``$REPRO_CACHE``, or ``~/.cache/repro``."""
    value = override if override not in (None, "") else os.environ.get(CACHE_ENV)
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "repro"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()
