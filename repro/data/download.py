"""Official downloads that never hang: a short reachability check first, then a staged download.

Before any download every host is probed with a TCP connection that must open within ``CONNECT_TIMEOUT``
seconds (in a thread, so that a stuck name lookup cannot hold the caller either); transfers time out when no
byte arrives for ``READ_TIMEOUT`` seconds. Files are fetched and unpacked into a hidden staging folder that
is renamed to its final name only when everything arrived and passed its MD5 check, so an interrupted
download leaves nothing that looks like data. ``$REPRO_OFFLINE=1`` turns downloads off altogether.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tarfile
import threading
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import ReproError

OFFLINE_ENV = "REPRO_OFFLINE"
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class Fetch:
    """One file of an official release: where it is, its MD5 (None: unchecked), and whether to unpack it."""

    url: str
    filename: str
    md5: str | None = None
    #: None keeps the file as downloaded; a (possibly empty) subfolder name unpacks the archive into it
    extract_into: str | None = None


def downloads_off() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _endpoint(url: str) -> tuple[str, int]:
    """The host and port a request for ``url`` first connects to (the proxy, when one is configured)."""
    parsed = urlparse(url)
    proxy = urllib.request.getproxies().get(parsed.scheme)
    if proxy:
        parsed = urlparse(proxy if "://" in proxy else f"http://{proxy}")
    return parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)


def reachable(url: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout`` seconds (name lookup included)."""
    host, port = _endpoint(url)
    opened: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            opened.append(True)
        except OSError:
            pass

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(opened)


def unreachable_hosts(fetches: tuple[Fetch, ...]) -> list[str]:
    return sorted({urlparse(f.url).hostname for f in fetches if not reachable(f.url)})


def _fetch(fetch: Fetch, path: Path) -> None:
    from tqdm.auto import tqdm

    request = urllib.request.Request(fetch.url, headers={"User-Agent": "repro-data/1"})
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(request, timeout=READ_TIMEOUT) as response, open(path, "wb") as out:
            if "text/html" in response.headers.get("Content-Type", ""):
                raise ReproError(
                    f"{fetch.url} answered with a web page instead of {fetch.filename} (the host "
                    "asks for a manual download); download it by hand into the data folder"
                )
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=fetch.filename, disable=None) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError) as err:
        raise ReproError(
            f"downloading {fetch.url} failed ({err}); run again to retry, or put the file into "
            "the data folder ($REPRO_DATA) by hand"
        ) from err
    if fetch.md5 and digest.hexdigest() != fetch.md5:
        raise ReproError(
            f"{fetch.url} arrived with MD5 {digest.hexdigest()}, expected {fetch.md5}: the download "
            "was corrupted or the file changed upstream; run again to retry"
        )


def _extract(archive: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(folder)
    else:
        with tarfile.open(archive) as handle:
            handle.extractall(folder, filter="data")


def download(fetches: tuple[Fetch, ...], target: Path) -> None:
    """Fetch (and unpack) every file into ``target``, which appears whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        for fetch in fetches:
            path = stage / fetch.filename
            _fetch(fetch, path)
            if fetch.extract_into is not None:
                _extract(path, stage / fetch.extract_into)
                path.unlink()
        if target.exists():
            shutil.rmtree(target)
        os.replace(stage, target)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
