"""What a model's weights are, as a short hash: the resume guards of inversions, synthetic sets, class tokens and
scratch folders include it, so work computed with other weights under the same name (a retrained mini model,
``REPRO_MINI_GENERATOR`` pointed elsewhere, a retrained teacher) is refused or recomputed, never reused.

Files of the model's parts (its subfolders) are hashed by content, not the model card or training records beside
them. A Hugging Face hub snapshot (``.../snapshots/<commit>/``) is identified by its
commit instead, which names its content without reading gigabytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from .errors import ReproError

#: files whose content makes a model (weights and the configs that shape them)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".th", ".json")


def file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _is_part(path: Path, folder: Path, parts: Iterable[str] | None) -> bool:
    """A file of a model part (``unet/...``, ``vae/...``; only ``parts`` where given): not the card, its figures
    or the training records."""
    relative = path.relative_to(folder).parts
    if not (path.is_file() and path.suffix in WEIGHT_SUFFIXES and len(relative) >= 2):
        return False
    return relative[0] in parts if parts is not None else relative[0] != "training"


def folder_fingerprint(folder: str | Path, extra: Iterable[str | Path] = (), parts: Iterable[str] | None = None) -> str:
    """The weights under model folder ``folder`` (only its subfolders ``parts`` where given, e.g. ``("vae",)``;
    and the ``extra`` files, e.g. a swapped-in UNet) as one short hash. A folder holding no weight file is
    refused: the hash of nothing would match every other empty folder."""
    folder = Path(folder)
    parts = None if parts is None else tuple(parts)
    snapshot = next((p.name for p in [folder, *folder.parents] if p.parent.name == "snapshots"), None)
    digest = hashlib.sha256()
    if snapshot is not None:
        digest.update(f"hub-snapshot:{snapshot}".encode())
    else:
        files = sorted(p for p in folder.rglob("*") if _is_part(p, folder, parts))
        if not files:
            raise ReproError(
                f"no model weights under {folder}{f' {list(parts)}' if parts else ''}: give a model folder "
                "(one holding unet/, vae/, ... subfolders)"
            )
        for path in files:
            digest.update(f"{path.relative_to(folder)}:{file_hash(path)}\n".encode())
    for path in extra:
        digest.update(f"extra:{file_hash(path)}\n".encode())
    return digest.hexdigest()[:16]
