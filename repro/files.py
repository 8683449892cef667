"""Files at the edges of a command: output paths proved writable before any work, JSON written atomically,
and reads of files that can be damaged (cut short by a killed job, a full disk or a bad copy).

Every failure is one ``ReproError`` that names the file, what is wrong with it and the fix, so no traceback
reaches a user for a damaged file and no computation is lost to an output that cannot be written.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .errors import ReproError

T = TypeVar("T")


def problem(err: BaseException) -> str:
    """One line saying what a reader's exception means (some readers raise with an empty or long message)."""
    if isinstance(err, EOFError):
        return "it is empty or cut short"
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = f"{type(err).__name__}: {first}" if first else type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest of ``path`` and its parents that exists, when it is not a folder."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def output_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """Create the output folder ``path`` when missing and prove it writable, before any work is done."""
    path = Path(path).expanduser()
    blocker = _file_in_the_way(path)
    if blocker is not None:
        where = "it" if blocker == path else f"{blocker}"
        raise ReproError(
            f"{option} {path} must be a folder, but {where} is a file; choose another {option} or move the file away"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ReproError(
            f"{option} {path} cannot be written ({err.strerror or problem(err)}); choose a folder you can write to"
        ) from err
    return path


def output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check that the file ``path`` can be written later (its folder is created and proved writable now)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ReproError(f"{option} {path} is a folder; give a file name inside it")
    blocker = _file_in_the_way(path.parent)
    if blocker is not None:
        raise ReproError(
            f"{option} {path}: its folder {blocker} is a file; choose another {option} or move the file away"
        )
    output_folder(path.parent, option)
    return path


@contextmanager
def replaced_atomically(path: str | os.PathLike):
    """``with replaced_atomically(path) as tmp:`` write a file or a folder at ``tmp``; when the block succeeds it
    takes the place of ``path`` by renaming, so a killed job leaves the old one or the new, never half of one
    (a folder that is replaced is moved aside first, so readers may briefly find none). On failure the
    temporary is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():  # a rename cannot replace a folder that has files
            old = tmp.with_name(tmp.name + ".old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp)
        else:
            tmp.unlink(missing_ok=True)


def write_text_atomic(text: str, path: str | os.PathLike) -> Path:
    """Write a text file via a temporary file and a rename: a killed job leaves the old file or the new."""
    with replaced_atomically(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(data: Any, path: str | os.PathLike) -> Path:
    """Write JSON via a temporary file and a rename: a killed job leaves the old file or the new, never half."""
    return write_text_atomic(json.dumps(data, indent=2, sort_keys=True, default=str), path)


#: the options a ``repro`` command ran with, beside its output (``repro.experiments.assets`` compares them)
ARGUMENTS_FILE = "arguments.json"


def write_arguments(folder: str | os.PathLike, args, **measured: Any) -> Path:
    """Record the options a ``repro`` command ran with (``args``, its parsed command line) in
    ``folder/arguments.json``, under their names, which are the registry's parameter names, with what the run
    measured (``weights``: the generator's fingerprint): an experiment that reads the output compares its own
    parameters with this record."""
    return write_json_atomic({**vars(args), **measured}, Path(folder) / ARGUMENTS_FILE)


def read_damageable(path: str | os.PathLike, read: Callable[[Path], T], what: str, fix: str) -> T:
    """``read(path)``, with any failure of the reader turned into one message: the file, what is wrong, ``fix``."""
    path = Path(path)
    if not path.exists():
        raise ReproError(f"{what} {path} does not exist; {fix}")
    try:
        return read(path)
    except ReproError:
        raise
    except Exception as err:  # every reader fails its own way on a damaged file (pickle, zip, JSON, safetensors)
        raise ReproError(f"{what} {path} is damaged or not such a file ({problem(err)}); {fix}") from err


def read_json(path: str | os.PathLike, what: str, fix: str) -> Any:
    return read_damageable(path, lambda p: json.loads(p.read_text()), what, fix)


def check_finite(values, what: str, fix: str) -> None:
    """Refuse a tensor or array with NaN or infinite entries (they would spread silently, e.g. black images)."""
    import torch

    tensor = torch.as_tensor(values)
    if tensor.is_floating_point() or tensor.is_complex():
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise ReproError(f"{what} holds {bad} NaN or infinite value(s) of {tensor.numel()}; {fix}")
