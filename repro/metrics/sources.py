"""Image sets to measure, streamed as uint8 batches [B, H, W, 3].

``open_source(spec)`` understands:

- a dataset split ``DATASET:SPLIT`` (e.g. ``cifar10:test``, ``pool:train``, ``my_data:test`` for your own
  data, see ``repro.data.own``), read with ``repro.data.load_split``;
- a folder of images (``.png .jpg .jpeg .bmp .webp``, searched recursively, sorted by path);
- an array file: ``.npy`` (memory-mapped) or ``.npz`` (key ``images``, else its only array), uint8 [N, H, W, 3];
- a folder with an ``index.json`` (synthetic shards): ``repro sample`` datasets (``"format":
  "repro-synthetic-v1"``) are read with ``repro.sampling.SyntheticDataset``. Any other shard format plugs in
  through the reader hook: its index names the function that reads it, ``{"reader": "package.module:function",
  ...}``; the function is called with the folder's ``Path`` and returns an iterable of uint8 arrays
  [b, H, W, 3] (any b, e.g. one per shard), and an optional ``"count"`` gives the number of images.

From Python, any ``ImageSource(name, batches)`` works too: ``batches(batch_size)`` yields the uint8 arrays.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ReproError
from ..files import read_damageable, read_json

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
INDEX_FILE = "index.json"


@dataclass
class ImageSource:
    """A named image set: ``batches(batch_size)`` yields uint8 arrays [b, H, W, 3] (b <= batch_size)."""

    name: str
    batches: Callable[[int], Iterator[np.ndarray]]
    length: int | None = None

    def num_batches(self, batch_size: int) -> int | None:
        return None if self.length is None else -(-self.length // batch_size)

    @classmethod
    def from_array(cls, images: np.ndarray, name: str) -> ImageSource:
        _check_images(images, name)
        return cls(name, lambda size: (images[i : i + size] for i in range(0, len(images), size)), len(images))


def _check_images(images: np.ndarray, name: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ReproError(
            f"{name}: images must be uint8 [N, H, W, 3] (RGB, channels last), got {images.dtype} {images.shape}"
        )


def rebatch(arrays: Iterable[np.ndarray], size: int, name: str) -> Iterator[np.ndarray]:
    """Regroup arrays of any length into batches of ``size`` (the last may be smaller)."""
    pending: list[np.ndarray] = []
    count = 0
    for array in arrays:
        _check_images(array, name)
        pending.append(array)
        count += len(array)
        while count >= size:
            merged = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield merged[:size]
            pending, count = ([merged[size:]], count - size) if count > size else ([], 0)
    if count:
        yield np.concatenate(pending)


def _read_image(path: Path) -> np.ndarray:
    def read(p: Path) -> np.ndarray:
        with Image.open(p) as image:
            return np.asarray(image.convert("RGB"))

    return read_damageable(path, read, "image", "replace or delete it")


def image_folder(folder: Path) -> ImageSource:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ReproError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}) and no {INDEX_FILE}")

    def batches(size: int) -> Iterator[np.ndarray]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for start in range(0, len(files), size):
                chunk = files[start : start + size]
                images = list(pool.map(_read_image, chunk))
                shapes = {im.shape for im in images}
                if len(shapes) > 1:
                    raise ReproError(
                        f"{folder}: images differ in size ({sorted(shapes)[:3]}...), e.g. {chunk[0]}; "
                        "resize the set to one size"
                    )
                yield np.stack(images)

    return ImageSource(str(folder), batches, len(files))


def _read_array(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        return np.load(path, mmap_mode="r")
    with np.load(path) as archive:
        keys = list(archive.keys())
        if "images" not in keys and len(keys) != 1:
            raise ReproError(f"{path} has arrays {keys}; store the images under the key 'images'")
        return archive["images" if "images" in keys else keys[0]]


def array_file(path: Path) -> ImageSource:
    images = read_damageable(
        path,
        _read_array,
        "image array file",
        "write it again with numpy.save or numpy.savez(path, images=uint8 [N, H, W, 3])",
    )
    return ImageSource.from_array(images, str(path))


def _synthetic_dataset(folder: Path) -> Iterator[np.ndarray]:
    from ..sampling import SyntheticDataset

    return (shard["images"] for shard in SyntheticDataset(folder).shards())


def shard_folder(folder: Path) -> ImageSource:
    index = read_json(folder / INDEX_FILE, "shard index", "write the folder again")
    target = index.get("reader")
    if target is None and str(index.get("format", "")).startswith("repro-synthetic"):
        # SyntheticDataset checks the version and refuses an incomplete dataset.
        reader = _synthetic_dataset
    elif isinstance(target, str) and ":" in target:
        module_name, function_name = target.split(":", 1)
        try:
            reader = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as err:
            raise ReproError(
                f"{folder / INDEX_FILE} names the reader {target!r}, which cannot be imported: {err}"
            ) from err
    else:
        raise ReproError(
            f'{folder / INDEX_FILE} is no repro sample dataset and does not name its reader; add "reader": '
            '"package.module:function" (a function of the folder Path returning uint8 [b, H, W, 3] arrays)'
        )
    name = str(folder)
    length = index.get("num_images", index.get("count"))
    return ImageSource(name, lambda size: rebatch(reader(folder), size, name), length)


def dataset_split(dataset: str, split: str, data_root: str | Path | None) -> ImageSource:
    from ..data import load_split

    image_set = load_split(dataset, split, root=data_root)
    return ImageSource.from_array(image_set.images, f"{dataset}:{split}")


def open_source(spec: str, data_root: str | Path | None = None) -> ImageSource:
    """The image set a command-line SPEC names (see the module docstring)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return shard_folder(path) if (path / INDEX_FILE).is_file() else image_folder(path)
    if path.is_file():
        if path.suffix not in (".npy", ".npz"):
            raise ReproError(f"{spec}: a file image set must be .npy or .npz (uint8 [N, H, W, 3])")
        return array_file(path)
    dataset, colon, split = spec.rpartition(":")
    if colon and dataset and split and "/" not in split:
        return dataset_split(dataset, split, data_root)
    raise ReproError(
        f"image set {spec!r} is neither a folder, an .npy/.npz file nor a dataset split such as cifar10:test"
    )
