"""Your own data as a dataset: a folder with one subfolder per class, or an ``.npz`` of images and labels.

Its path goes wherever a dataset name goes (``repro invert --dataset my_data``, ``repro train --test
my_data:test``, ``repro metrics --real my_data:test``, an experiment's ``dataset``). Splits: ``all`` (every
image), ``train`` and ``test`` (the first 4/5 of each class in sorted file order, and the rest: the rule of the
registered datasets that have no official split). Images keep their own size, which must be one square size
for all; ``size=N`` (``--image-size N``) centre-crops and resizes every image to N px, and says so. Classes
are the subfolder names in sorted order, or the ``.npz``'s ``classes`` (else "0".."K-1"). Decoded images go
through the same cache as the registered datasets, keyed by the files' names, sizes and modification times.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ReproError
from .registry import DatasetSpec
from .sources import IMAGE_SUFFIXES, NPZ_LAYOUT, FolderTree, LabelledNpz
from .splits import FileOrder, Stored

#: share of each class (in file order) in the train split of your own data; the rest is its test split
TRAIN_SHARE = (4, 5)
#: subfolder names that mean a folder holds splits, not classes
SPLIT_NAMES = {"train", "test", "val", "valid", "validation"}
LAYOUT = "a folder with one subfolder of images per class (my_data/<class>/<image>.png), or an .npz file"


def is_own_data(name: str) -> bool:
    """Whether a dataset name is a path (an existing one, or one that is spelled as a path)."""
    return Path(name).expanduser().exists() or "/" in name or name.endswith(".npz")


def own_dataset(name: str) -> DatasetSpec:
    """The dataset at path ``name`` (see the module docstring); a path of another layout is an error."""
    path = Path(name).expanduser().resolve()
    if path.is_file() and path.suffix == ".npz":
        source = LabelledNpz(path.name, path.stem)
    elif path.is_dir():
        _check_folder(path)
        source = FolderTree(path.name, path.name)
    elif path.exists():
        raise ReproError(
            f"{name} is a {path.suffix or 'suffix-less'} file; your own data must be {LAYOUT} written as {NPZ_LAYOUT}"
        )
    else:
        raise ReproError(
            f"no dataset named {name!r} and nothing at {path}; give a registered dataset "
            f"(`repro data list`) or your own data: {LAYOUT}"
        )
    return DatasetSpec(
        str(path),
        f"your own data at {path}",
        None,
        {
            "all": Stored((source,)),
            "train": FileOrder("all", TRAIN_SHARE),
            "test": FileOrder("all", TRAIN_SHARE, tail=True),
        },
        location=path,
    )


def _check_folder(path: Path) -> None:
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        loose = any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
        what = "holds images but no class subfolders" if loose else "has no subfolders"
        raise ReproError(
            f"{path} {what}; your own data must be {LAYOUT}: move each class's images into a "
            "subfolder named after the class"
        )
    if {p.name.lower() for p in folders} <= SPLIT_NAMES:
        raise ReproError(
            f"{path} holds split folders ({', '.join(p.name for p in folders)}), not class folders; "
            f"pass one split's folder, e.g. {folders[0]}, whose subfolders are the classes"
        )
