"""Where a split's images come from, and how each kind of file is read into uint8 arrays.

Two families:

- image-folder trees, ``{class}/{file}``, inside a zip archive (``ZipTree``: the offline archives of the data
  folder) or on disk (``FolderTree``: an unpacked archive or an official download such as ImageNette's);
- the official downloads' array formats: CIFAR's pickled batches, STL-10's binary files, MedMNIST's npz and
  the IDX files of Fashion-MNIST.

A source only knows how to find itself in one folder (``locate``), how to tell that its files changed
(``fingerprint``, the decode cache's key) and how to decode them at a given size (``decode``). Trees are read
in sorted order of class folder, then file name: that order defines "the first N of each class".
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ReproError
from ..files import problem
from .images import decode_image, resize

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}

#: The offline archives (``../shared/data/README.md``): file name -> sha256. A file of that name with another
#: checksum is refused, because the mini world's splits and the cached arrays are defined by these bytes.
KNOWN_ARCHIVES = {
    "cifar10-train-jpeg.zip": "0ef67c0f1a90f62969c0e932474462fb5d8703616645753ee4b5fbbdf96f820a",
    "cifar10-test-jpeg.zip": "8f6ffa68dc349c752e054af3323b3655d88d1ad176c70d1ae5d0ce5e67412199",
    "imagenette-64.zip": "eb81dc677f1413565e655d3c27384791c6ab23a4f04f9a6713a744ef3092502a",
    "pacs-64.zip": "d8d699fa549c18e28d122567ba7940c079e99cdfd681c2399ed3e2fae76692b4",
}

_SHA256_MEMO: dict[tuple, str] = {}


@dataclass
class Decoded:
    """What a source yields: images at the requested size, labels indexing ``classes``, one id per image."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    ids: list[str]

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "images": self.images,
            "labels": np.asarray(self.labels, dtype=np.int64),
            "classes": np.asarray(self.classes, dtype=str),
            "ids": np.asarray(self.ids, dtype=str),
        }


def file_sha256(path: Path) -> str:
    """sha256 of a file, computed once per process for a given (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256_MEMO:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _SHA256_MEMO[key] = digest.hexdigest()
    return _SHA256_MEMO[key]


def check_known_archive(path: Path) -> str:
    """The archive's sha256, after checking it against ``KNOWN_ARCHIVES`` when its name is listed there."""
    actual = file_sha256(path)
    expected = KNOWN_ARCHIVES.get(path.name)
    if expected is not None and actual != expected:
        raise ReproError(
            f"{path} has sha256 {actual}, but the known archive {path.name} has {expected}: the file "
            "is damaged or a different export; copy it again from the offline data folder "
            "(or remove it so that the dataset is downloaded from its official source)"
        )
    return actual


def stat_fingerprint(paths: list[Path]) -> str:
    """Cheap change detector for large official files and folders: names, sizes and modification times."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class Source:
    """One way of reading one split; subclasses define the file format."""

    def locate(self, folder: Path) -> Path | None:
        raise NotImplementedError

    def fingerprint(self, path: Path) -> str:
        raise NotImplementedError

    def decode(self, path: Path, size: int) -> Decoded:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    @property
    def cache_stem(self) -> str:
        """A readable prefix for the cache file (the key that follows it is what matters)."""
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------- image trees


def decode_tree(
    files: list[tuple[str, str]],
    read: Callable[[str, str], bytes],
    size: int | None,
    classes: tuple[str, ...] | None,
    where: str,
    id_prefix: str,
) -> Decoded:
    """Decode ``(class folder, file name)`` entries, sorted by class then name, checking the class folders.

    ``size=None`` keeps the images' own size, which must then be one square size for all (your own data)."""
    if not files:
        raise ReproError(f"{where} holds no images; expected the layout {{class}}/{{file}}.jpg under it")
    found = sorted({cls for cls, _ in files})
    if classes is not None:
        missing = [c for c in classes if c not in found]
        extra = [c for c in found if c not in classes]
        if missing or extra:
            problems = ([f"missing class folder(s) {', '.join(missing)}"] if missing else []) + (
                [f"unexpected folder(s) {', '.join(extra)}"] if extra else []
            )
            raise ReproError(
                f"{where}: {'; '.join(problems)}. Expected exactly these class folders: "
                f"{', '.join(classes)}; the archive is incomplete or not this dataset"
            )
    order = list(classes) if classes is not None else found
    position = {c: i for i, c in enumerate(order)}
    files = sorted(files, key=lambda f: (position[f[0]], f[1]))
    images = None
    from tqdm.auto import tqdm

    for i, (cls, name) in enumerate(
        tqdm(files, desc=f"decoding {where}", unit="img", disable=None, leave=False, mininterval=2.0)
    ):
        try:
            image = decode_image(read(cls, name), size)
        except Exception as err:  # any unreadable member: a damaged archive or a file that is not an image
            raise ReproError(
                f"cannot decode {cls}/{name} in {where} ({problem(err)}); the file is damaged or "
                "truncated: copy it again"
            ) from err
        if images is None:
            images = np.empty((len(files), *image.shape), dtype=np.uint8)
        if image.shape != images.shape[1:] or image.shape[0] != image.shape[1]:
            other = (
                "not square"
                if image.shape[0] != image.shape[1]
                else f"but {files[0][0]}/{files[0][1]} is {images.shape[2]}x{images.shape[1]} px"
            )
            raise ReproError(
                f"{where}: {cls}/{name} is {image.shape[1]}x{image.shape[0]} px, {other}; images keep "
                "their own size, which must be one square size for all: pass --image-size N to "
                "centre-crop and resize every image to N px, or resize them yourself"
            )
        images[i] = image
    labels = np.array([position[cls] for cls, _ in files], dtype=np.int64)
    ids = [f"{id_prefix}/{cls}/{name}" for cls, name in files]
    return Decoded(images, labels, order, ids)


def _is_image(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and os.path.splitext(base)[1].lower() in IMAGE_SUFFIXES


@dataclass(frozen=True)
class ZipTree(Source):
    """``{archive}`` in the data folder, holding ``{prefix}/{class}/{file}``; ids are the member paths."""

    archive: str
    prefix: str
    classes: tuple[str, ...] | None = None

    def locate(self, folder: Path) -> Path | None:
        path = folder / self.archive
        return path if path.is_file() else None

    def fingerprint(self, path: Path) -> str:
        return check_known_archive(path)

    def decode(self, path: Path, size: int) -> Decoded:
        where = f"{path}:{self.prefix}/"
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            raise ReproError(
                f"{path} is not a readable zip archive ({err}); it is truncated or damaged: copy it again"
            ) from err
        with archive:
            head = self.prefix.rstrip("/") + "/"
            files = []
            for name in archive.namelist():
                rest = name[len(head) :] if name.startswith(head) else None
                if rest and "/" in rest and _is_image(rest) and "__MACOSX" not in name:
                    cls, file = rest.split("/", 1)
                    files.append((cls, file))
            return decode_tree(
                files,
                lambda cls, file: archive.read(f"{head}{cls}/{file}"),
                size,
                self.classes,
                where,
                self.prefix.rstrip("/"),
            )

    def describe(self) -> str:
        return f"{self.archive} ({self.prefix}/{{class}}/*)"

    @property
    def cache_stem(self) -> str:
        return self.prefix.strip("/").replace("/", "-")


@dataclass(frozen=True)
class FolderTree(Source):
    """A folder ``{subdir}/{class}/{file}`` (an unpacked archive or an official download)."""

    subdir: str
    id_prefix: str
    classes: tuple[str, ...] | None = None

    def locate(self, folder: Path) -> Path | None:
        path = folder / self.subdir
        if not path.is_dir():
            return None
        # an official download's folder can sit beside unrelated folders: require class folders inside
        return path if any(p.is_dir() for p in path.iterdir()) else None

    def _files(self, path: Path) -> list[tuple[str, str]]:
        files = []
        for class_dir in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for root, _, names in os.walk(class_dir):
                rel = Path(root).relative_to(class_dir)
                files += [(class_dir.name, (rel / n).as_posix()) for n in names if _is_image(n)]
        return files

    def fingerprint(self, path: Path) -> str:
        return stat_fingerprint([path / cls / name for cls, name in self._files(path)])

    def decode(self, path: Path, size: int) -> Decoded:
        return decode_tree(
            self._files(path),
            lambda cls, name: (path / cls / name).read_bytes(),
            size,
            self.classes,
            str(path),
            self.id_prefix,
        )

    def describe(self) -> str:
        return f"{self.subdir}/{{class}}/*"

    @property
    def cache_stem(self) -> str:
        return self.id_prefix.replace("/", "-")


# ----------------------------------------------------------------------------------- official array formats


def _array_decoded(
    images: np.ndarray, labels: np.ndarray, classes: list[str], id_prefix: str, size: int | None
) -> Decoded:
    """Arrays in their native size -> ``Decoded`` at ``size`` (grayscale replicated into RGB, then resized;
    ``size=None`` keeps the native size)."""
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    images = np.ascontiguousarray(images, dtype=np.uint8)
    images = images if size is None else resize(images, size)
    ids = [f"{id_prefix}/{i:05d}" for i in range(len(images))]
    return Decoded(images, np.asarray(labels, dtype=np.int64).reshape(-1), classes, ids)


def _read_pickle(path: Path) -> dict:
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="bytes")


@dataclass(frozen=True)
class CifarBatches(Source):
    """The python version of CIFAR-10/100 (torchvision's download): pickled batches in ``folder``."""

    folder: str
    files: tuple[str, ...]
    label_key: str
    meta: str
    names_key: str
    id_prefix: str

    def locate(self, folder: Path) -> Path | None:
        path = folder / self.folder
        return path if all((path / f).is_file() for f in (*self.files, self.meta)) else None

    def fingerprint(self, path: Path) -> str:
        return stat_fingerprint([path / f for f in (*self.files, self.meta)])

    def decode(self, path: Path, size: int) -> Decoded:
        batches = [_read_pickle(path / f) for f in self.files]
        data = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.concatenate([np.asarray(b[self.label_key.encode()]) for b in batches])
        names = [n.decode() for n in _read_pickle(path / self.meta)[self.names_key.encode()]]
        return _array_decoded(data, labels, names, self.id_prefix, size)

    def describe(self) -> str:
        return f"{self.folder}/ ({', '.join(self.files)})"

    @property
    def cache_stem(self) -> str:
        return self.id_prefix.replace("/", "-") + "-batches"


@dataclass(frozen=True)
class Stl10Binary(Source):
    """STL-10's binary release (torchvision's download): ``stl10_binary/{split}_X.bin`` and ``_y.bin``."""

    split: str

    def locate(self, folder: Path) -> Path | None:
        path = folder / "stl10_binary"
        needed = (f"{self.split}_X.bin", f"{self.split}_y.bin", "class_names.txt")
        return path if all((path / f).is_file() for f in needed) else None

    def fingerprint(self, path: Path) -> str:
        return stat_fingerprint([path / f"{self.split}_X.bin", path / f"{self.split}_y.bin"])

    def decode(self, path: Path, size: int) -> Decoded:
        # the images are stored column-major: [N, 3, 96, 96] with the last two axes swapped
        raw = np.fromfile(path / f"{self.split}_X.bin", dtype=np.uint8).reshape(-1, 3, 96, 96)
        images = raw.transpose(0, 3, 2, 1)
        labels = np.fromfile(path / f"{self.split}_y.bin", dtype=np.uint8).astype(np.int64) - 1
        classes = (path / "class_names.txt").read_text().split()
        return _array_decoded(images, labels, classes, f"stl10/{self.split}", size)

    def describe(self) -> str:
        return f"stl10_binary/{self.split}_X.bin"

    @property
    def cache_stem(self) -> str:
        return f"stl10-{self.split}"


@dataclass(frozen=True)
class MedMnistNpz(Source):
    """A MedMNIST v2 file (``{flag}.npz``, 28 px, as the medmnist package downloads it)."""

    flag: str
    split: str

    def locate(self, folder: Path) -> Path | None:
        path = folder / f"{self.flag}.npz"
        return path if path.is_file() else None

    def fingerprint(self, path: Path) -> str:
        return stat_fingerprint([path])

    def decode(self, path: Path, size: int) -> Decoded:
        from medmnist import INFO

        try:
            with np.load(path) as data:
                images, labels = data[f"{self.split}_images"], data[f"{self.split}_labels"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise ReproError(
                f"{path} is not a readable MedMNIST file ({err}); delete it and download it again"
            ) from err
        names = INFO[self.flag]["label"]
        classes = [names[str(i)] for i in range(len(names))]
        return _array_decoded(images, labels, classes, f"{self.flag}/{self.split}", size)

    def describe(self) -> str:
        return f"{self.flag}.npz ({self.split}_images)"

    @property
    def cache_stem(self) -> str:
        return f"{self.flag}-{self.split}"


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


@dataclass(frozen=True)
class IdxFiles(Source):
    """IDX image/label files (the MNIST family), gzipped or not, in ``folder``."""

    folder: str
    images: str
    labels: str
    classes: tuple[str, ...]
    id_prefix: str

    def _pair(self, path: Path) -> tuple[Path, Path] | None:
        for suffix in (".gz", ""):
            images, labels = path / (self.images + suffix), path / (self.labels + suffix)
            if images.is_file() and labels.is_file():
                return images, labels
        return None

    def locate(self, folder: Path) -> Path | None:
        path = folder / self.folder
        return path if self._pair(path) else None

    def fingerprint(self, path: Path) -> str:
        return stat_fingerprint(list(self._pair(path)))

    def decode(self, path: Path, size: int) -> Decoded:
        images, labels = (_read_idx(p) for p in self._pair(path))
        return _array_decoded(images, labels, list(self.classes), self.id_prefix, size)

    def describe(self) -> str:
        return f"{self.folder}/{self.images}[.gz]"

    @property
    def cache_stem(self) -> str:
        return self.id_prefix.replace("/", "-") + "-idx"


# ------------------------------------------------------------------------------------------- your own data

NPZ_LAYOUT = "numpy.savez(path, images=uint8 [N, H, W, 3] or [N, H, W], labels=[N] integers, classes=[K] names)"


@dataclass(frozen=True)
class LabelledNpz(Source):
    """Your own images in one ``.npz``: ``images`` uint8 ``[N, H, W, 3]`` (or ``[N, H, W]`` grayscale, made RGB),
    ``labels`` ``[N]`` integers indexing the classes, optionally ``classes`` ``[K]`` names (else "0".."K-1")."""

    filename: str
    id_prefix: str

    def locate(self, folder: Path) -> Path | None:
        path = folder / self.filename
        return path if path.is_file() else None

    def fingerprint(self, path: Path) -> str:
        return stat_fingerprint([path])

    def decode(self, path: Path, size: int | None) -> Decoded:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except Exception as err:  # a cut-short zip, a pickled object array, not an .npz at all
            raise ReproError(
                f"{path} is not a readable .npz file ({problem(err)}); write it again with {NPZ_LAYOUT}"
            ) from err
        missing = [key for key in ("images", "labels") if key not in arrays]
        if missing:
            raise ReproError(
                f"{path} lacks the array(s) {missing} (it holds {sorted(arrays)}); write it with {NPZ_LAYOUT}"
            )
        images, labels = arrays["images"], arrays["labels"]
        if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
            raise ReproError(f"{path}: images are {images.dtype} {list(images.shape)}; write them as {NPZ_LAYOUT}")
        if images.shape[1] != images.shape[2]:
            raise ReproError(
                f"{path}: images are {images.shape[2]}x{images.shape[1]} px, not square; crop them to "
                "squares before saving"
            )
        if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
            raise ReproError(
                f"{path}: {len(images)} images need {len(images)} integer labels, got {labels.dtype} "
                f"{list(labels.shape)}; write them as {NPZ_LAYOUT}"
            )
        classes = (
            [str(c) for c in arrays["classes"]]
            if "classes" in arrays
            else [str(c) for c in range(int(labels.max(initial=0)) + 1)]
        )
        if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ReproError(
                f"{path}: labels run from {labels.min()} to {labels.max()}, but there are "
                f"{len(classes)} classes; labels must index the classes array (0..{len(classes) - 1})"
            )
        return _array_decoded(images, labels, classes, self.id_prefix, size)

    def describe(self) -> str:
        return f"{self.filename} (images, labels[, classes])"

    @property
    def cache_stem(self) -> str:
        return f"own-{self.id_prefix}"
