"""``load_split``: find a split's files (data folder, downloads, system folders), download them when missing
and the machine is online, decode once through the cache, and assemble derived splits."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import ReproError
from ..paths import CACHE_ENV, DATA_ENV, cache_root, data_root
from .download import OFFLINE_ENV, download, downloads_off, unreachable_hosts
from .imageset import ImageSet
from .registry import DatasetSpec, dataset_spec
from .sources import Source


def downloads_folder(spec: DatasetSpec) -> Path:
    return cache_root() / "downloads" / spec.downloads


class Loader:
    """Resolves splits against one data folder; ``allow_download=False`` only reads what is there."""

    def __init__(self, root: str | os.PathLike | None = None, allow_download: bool = True):
        self.root = data_root(root)
        self.allow_download = allow_download

    def folders(self, spec: DatasetSpec) -> list[Path]:
        if spec.location is not None:
            return [spec.location.parent]
        return ([self.root] if self.root else []) + [downloads_folder(spec), *spec.extra_folders]

    def load(self, dataset: str, split: str, size: int | None = None) -> ImageSet:
        spec = dataset_spec(dataset)
        return spec.split(split).load(self, spec, split, _size(size, spec))

    def key(self, dataset: str, split: str, size: int | None = None) -> dict:
        """What the split's content depends on (file fingerprints and rules), without decoding it."""
        spec = dataset_spec(dataset)
        return spec.split(split).key(self, spec, split, _size(size, spec))

    def locate(self, spec: DatasetSpec, sources: tuple[Source, ...]) -> tuple[Source, Path] | None:
        for folder in self.folders(spec):
            for source in sources:
                path = source.locate(folder)
                if path is not None:
                    return source, path
        return None

    def find(self, spec: DatasetSpec, split: str, sources: tuple[Source, ...]) -> tuple[Source, Path]:
        """The first source present in the search folders; downloads the dataset when none is and it can."""
        found = self.locate(spec, sources)
        if found is not None:
            return found
        self._download(spec, split, sources)
        found = self.locate(spec, sources)
        if found is None:
            raise ReproError(
                f"the download of {spec.name!r} into {downloads_folder(spec)} finished but holds none of "
                f"{_describe(sources)}; the official release changed its layout: report this"
            )
        return found

    def _download(self, spec: DatasetSpec, split: str, sources: tuple[Source, ...]) -> None:
        searched = ", ".join(str(f) for f in self.folders(spec))
        missing = (
            f"dataset {spec.name!r} (split {split!r}) was not found in {searched} (looked for {_describe(sources)})"
        )
        offline_fix = (
            f"Fix: set ${DATA_ENV} (or data_root in config/config.yaml, or --data-root) to a folder that "
            f"holds {sources[0].describe()}"
        )
        if not spec.fetches:
            raise ReproError(f"{missing}. {spec.manual}. {offline_fix}.")
        where = f"{spec.fetches[0].url} into {downloads_folder(spec)}"
        if not self.allow_download or downloads_off():
            why = f"${OFFLINE_ENV} is set" if downloads_off() else "downloads are off for this command"
            raise ReproError(f"{missing}, and {why}. {offline_fix}, or allow the download from {where}.")
        unreachable = unreachable_hosts(spec.fetches)
        if unreachable:
            raise ReproError(
                f"{missing}, and this machine is offline (cannot reach {', '.join(unreachable)}). "
                f"{offline_fix}, or run once on a machine with internet access, which downloads it "
                f"from {where} (${CACHE_ENV} moves that folder)."
            )
        print(f"repro data: downloading {spec.name} from {where}", file=sys.stderr)
        download(spec.fetches, downloads_folder(spec))


def _size(size: int | None, spec: DatasetSpec) -> int | None:
    if size is None:
        return spec.size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ReproError(f"image size {size!r} must be a positive number of pixels")
    return size


def _describe(sources: tuple[Source, ...]) -> str:
    return ", ".join(s.describe() for s in sources)


def load_split(
    dataset: str, split: str, root: str | os.PathLike | None = None, size: int | None = None, download: bool = True
) -> ImageSet:
    """The images of ``dataset``'s ``split`` as an ``ImageSet`` (uint8, decoded once and cached).

    ``root``: the data folder (default ``$REPRO_DATA``); ``size``: image side in pixels (default: the
    dataset's, see ``repro.data.registry``); ``download``: allow an official download when the files are
    missing (never attempted offline or with ``$REPRO_OFFLINE=1``).
    """
    return Loader(root, allow_download=download).load(dataset, split, size)
