"""Every dataset the two papers use, plus Fashion-MNIST and the mini world's splits (DESIGN.md).

A dataset has splits (see ``splits``), a default image size, the class folders it must have, its official
download (or how to obtain it by hand) and the image counts ``repro data verify`` expects. A split is read
from the first place that has it, in this order of folders: the data folder (``$REPRO_DATA``, config
``data_root``), the download folder ``cache_root()/downloads/<dataset>``, then fixed system folders (Debian's
``/usr/share/datasets`` for Fashion-MNIST). Within a folder, sources are tried in the order listed: the
offline archive first, then its unpacked tree, then the official download's own layout.

The mini world (DESIGN.md), "first N" always in sorted file-name order within each class:

- ``cifar10/target``: the first 1000 images of each class of train (10,000); ``cifar10/test``: official test;
- ``imagenette/target``: the first 300 of each class of train (3,000); ``imagenette/test`` = val (3,925);
- ``pacs_sketch/train`` / ``test``: the first 4/5 (rounded down) of each class / the rest; the same 80/20
  split for ``pacs_art_painting``, ``pacs_cartoon`` and ``pacs_photo`` (DDIS teachers);
- ``pool/train``: ``cifar10/rest`` (train minus target) + ``imagenette/rest`` + all of PACS photo, art painting
  and cartoon, all at 64 px (CIFAR-10 upsampled bicubic), captioned "a photo of a {class}" (CIFAR-10,
  ImageNette, PACS photo), "an art painting of a {class}" and "a cartoon of a {class}". Its labels index
  ``POOL_CLASSES``: CIFAR-10's ten classes, ImageNette's ten names, then PACS's classes not yet listed
  (elephant, giraffe, guitar, house, person): 25 classes.

Sizes: images are decoded to the dataset's ``size`` (``load_split(..., size=...)`` overrides it), 32 px
CIFAR, 96 px STL-10, 28 px MedMNIST and Fashion-MNIST (their native sizes), 64 px ImageNette, PACS and EuroSAT
(the offline archives' size and EuroSAT's native one; the paper's 256 px ImageNette is ``size=256`` from the
official download), 224 px ImageNet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ReproError
from .download import Fetch
from .sources import CifarBatches, FolderTree, IdxFiles, MedMnistNpz, Stl10Binary, ZipTree
from .splits import Alias, FileOrder, Pool, PoolPart, Stored, union_classes


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    #: default image side in pixels; None keeps the images' own size (your own data)
    size: int | None
    splits: Mapping[str, object]
    #: the class keys (folder names, or the official label names) in label order; None: as the files say
    classes: tuple[str, ...] | None = None
    #: class key -> the name that labels, captions and prompts use (ImageNette's wnids -> "tench", ...)
    names: Mapping[str, str] = field(default_factory=dict)
    #: for datasets whose names sit beside the data (ImageNet): the located path -> names
    names_beside: Callable[[Path], Mapping[str, str]] | None = None
    fetches: tuple[Fetch, ...] = ()
    #: how to obtain the data by hand when there is no official download
    manual: str = ""
    #: folder under ``cache_root()/downloads`` that the download fills (shared by the PACS domains)
    download_name: str = ""
    extra_folders: tuple[Path, ...] = ()
    #: split -> image count that ``repro data verify`` checks
    expected: Mapping[str, int] = field(default_factory=dict)
    #: your own data (``repro.data.own``): the folder or file itself, the only place it is read from
    location: Path | None = None

    def split(self, split: str):
        if split not in self.splits:
            raise ReproError(f"dataset {self.name!r} has no split {split!r}; its splits: {', '.join(self.splits)}")
        return self.splits[split]

    def class_names(self, located: Path) -> Mapping[str, str]:
        return self.names_beside(located) if self.names_beside else self.names

    @property
    def downloads(self) -> str:
        return self.download_name or self.name


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGENETTE_NAMES = {
    "n01440764": "tench",
    "n02102040": "English springer",
    "n02979186": "cassette player",
    "n03000684": "chain saw",
    "n03028079": "church",
    "n03394916": "French horn",
    "n03417042": "garbage truck",
    "n03425413": "gas pump",
    "n03445777": "golf ball",
    "n03888257": "parachute",
}
PACS_CLASSES = ("dog", "elephant", "giraffe", "guitar", "horse", "house", "person")
PACS_DOMAINS = ("art_painting", "cartoon", "photo", "sketch")
PACS_COUNTS = {"art_painting": 2048, "cartoon": 2344, "photo": 1670, "sketch": 3929}
#: (train, test) of each domain under the 80/20 rule, from the offline archive's per-class counts
PACS_SPLIT_COUNTS = {"art_painting": (1637, 411), "cartoon": (1873, 471), "photo": (1333, 337), "sketch": (3141, 788)}
EUROSAT_CLASSES = (
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
)
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

CIFAR10_TARGET_PER_CLASS = 1000
IMAGENETTE_TARGET_PER_CLASS = 300
#: share of each class (in file order) in a PACS domain's train split; the rest is its test split
PACS_TRAIN_SHARE = (4, 5)

POOL_PARTS = (
    PoolPart("cifar10", "rest", "a photo of a {}"),
    PoolPart("imagenette", "rest", "a photo of a {}"),
    PoolPart("pacs_photo", "all", "a photo of a {}"),
    PoolPart("pacs_art_painting", "all", "an art painting of a {}"),
    PoolPart("pacs_cartoon", "all", "a cartoon of a {}"),
)
POOL_CLASSES = tuple(union_classes([list(CIFAR10_CLASSES), list(IMAGENETTE_NAMES.values()), list(PACS_CLASSES)]))


def class_phrase(class_name: str) -> str:
    """A dataset's class name as the words of a prompt: ``chain_saw`` -> ``chain saw``."""
    return " ".join(class_name.replace("_", " ").split())


#: the splits the mini world's experiments use (``repro data prepare mini``), and the pool must avoid
MINI_WORLD_SPLITS = (
    ("cifar10", "target"),
    ("cifar10", "test"),
    ("imagenette", "target"),
    ("imagenette", "test"),
    ("pacs_sketch", "train"),
    ("pacs_sketch", "test"),
    ("pool", "train"),
)


def _cifar(number: int, folder: str, train_files, test_files, label_key, meta, names_key, archives: bool):
    name = f"cifar{number}"
    classes = CIFAR10_CLASSES if number == 10 else None

    def split(split: str, files) -> Stored:
        offline = (
            (
                ZipTree(f"{name}-{split}-jpeg.zip", f"{name}/{split}", classes),
                FolderTree(f"{name}/{split}", f"{name}/{split}", classes),
            )
            if archives
            else ()
        )
        return Stored(offline + (CifarBatches(folder, tuple(files), label_key, meta, names_key, f"{name}/{split}"),))

    return split("train", train_files), split("test", test_files)


_c10_train, _c10_test = _cifar(
    10,
    "cifar-10-batches-py",
    [f"data_batch_{i}" for i in range(1, 6)],
    ["test_batch"],
    "labels",
    "batches.meta",
    "label_names",
    archives=True,
)
_c100_train, _c100_test = _cifar(
    100, "cifar-100-python", ["train"], ["test"], "fine_labels", "meta", "fine_label_names", archives=False
)


def _imagenette(split: str) -> Stored:
    classes = tuple(IMAGENETTE_NAMES)
    official = tuple(
        FolderTree(f"{release}/{split}", f"imagenette/{split}", classes)
        for release in ("imagenette2-320", "imagenette2", "imagenette2-160")
    )
    return Stored(
        (
            ZipTree("imagenette-64.zip", f"imagenette/{split}", classes),
            FolderTree(f"imagenette/{split}", f"imagenette/{split}", classes),
        )
        + official
    )


def _pacs(domain: str) -> Stored:
    prefix = f"pacs/{domain}"
    return Stored(
        (
            ZipTree("pacs-64.zip", prefix, PACS_CLASSES),
            FolderTree(prefix, prefix, PACS_CLASSES),
            FolderTree(f"kfold/{domain}", prefix, PACS_CLASSES),
        )
    )


def _medmnist(flag: str, md5: str, title: str, counts: tuple[int, int, int]) -> DatasetSpec:
    return DatasetSpec(
        flag,
        title,
        28,
        {s: Stored((MedMnistNpz(flag, s),)) for s in ("train", "val", "test")},
        fetches=(Fetch(f"https://zenodo.org/records/10519652/files/{flag}.npz?download=1", f"{flag}.npz", md5),),
        expected=dict(zip(("train", "val", "test"), counts)),
    )


def _fashion(split: str, stem: str) -> Stored:
    files = (f"{stem}-images-idx3-ubyte", f"{stem}-labels-idx1-ubyte")
    return Stored(
        tuple(
            IdxFiles(folder, *files, FASHION_CLASSES, f"fashion_mnist/{split}")
            for folder in ("fashion-mnist", "FashionMNIST/raw")
        )
    )


def _imagenet_names(located: Path) -> dict[str, str]:
    """wnid -> first class name, from torchvision's ``meta.bin`` or Kaggle's ``LOC_synset_mapping.txt``."""
    folder = located.parent
    if (folder / "meta.bin").is_file():
        import torch

        from ..files import read_damageable

        meta = read_damageable(
            folder / "meta.bin",
            lambda p: torch.load(p, weights_only=False),
            "ImageNet class names",
            "delete it and let torchvision.datasets.ImageNet write it again",
        )
        wnid_to_classes = meta[0]
        return {wnid: names[0] for wnid, names in wnid_to_classes.items()}
    if (folder / "LOC_synset_mapping.txt").is_file():
        lines = (folder / "LOC_synset_mapping.txt").read_text().splitlines()
        return {wnid: rest.split(",")[0].strip() for wnid, _, rest in (line.partition(" ") for line in lines)}
    return {}


_PACS_FETCH = (
    Fetch(
        "https://drive.usercontent.google.com/download?id=1JFr8f805nMUelQWWmfnJR3y4_SYoN5Pd&export=download&confirm=t",
        "PACS.zip",
        None,
        extract_into="",
    ),
)
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_FASHION_FILES = (
    ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
)


def _pacs_domain(domain: str) -> DatasetSpec:
    train, test = PACS_SPLIT_COUNTS[domain]
    return DatasetSpec(
        f"pacs_{domain}",
        f"PACS {domain.replace('_', ' ')}: train/test = 80/20 by file order per class",
        64,
        {
            "all": _pacs(domain),
            "train": FileOrder("all", PACS_TRAIN_SHARE),
            "test": FileOrder("all", PACS_TRAIN_SHARE, tail=True),
        },
        classes=PACS_CLASSES,
        fetches=_PACS_FETCH,
        download_name="pacs",
        expected={"all": PACS_COUNTS[domain], "train": train, "test": test},
    )


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "cifar10",
            "CIFAR-10 (DI); mini world: target = first 1000 per class of train, test = official test",
            32,
            {
                "train": _c10_train,
                "test": _c10_test,
                "target": FileOrder("train", CIFAR10_TARGET_PER_CLASS),
                "rest": FileOrder("train", CIFAR10_TARGET_PER_CLASS, tail=True),
            },
            classes=CIFAR10_CLASSES,
            fetches=(
                Fetch(
                    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                    "cifar-10-python.tar.gz",
                    "c58f30108f718f92721af3b95e74349a",
                    extract_into="",
                ),
            ),
            expected={"train": 50000, "test": 10000, "target": 10000, "rest": 40000},
        ),
        DatasetSpec(
            "cifar100",
            "CIFAR-100 (DI), 100 fine classes",
            32,
            {"train": _c100_train, "test": _c100_test},
            fetches=(
                Fetch(
                    "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                    "cifar-100-python.tar.gz",
                    "eb9058c3a382ffc7106e4002c42a8d85",
                    extract_into="",
                ),
            ),
            expected={"train": 50000, "test": 10000},
        ),
        DatasetSpec(
            "stl10",
            "STL-10 labelled part (DI), 96 px",
            96,
            {"train": Stored((Stl10Binary("train"),)), "test": Stored((Stl10Binary("test"),))},
            fetches=(
                Fetch(
                    "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
                    "stl10_binary.tar.gz",
                    "91f7769df0f17e558f3565bffb0c7dfb",
                    extract_into="",
                ),
            ),
            expected={"train": 5000, "test": 8000},
        ),
        DatasetSpec(
            "imagenette",
            "ImageNette (DI); mini world at 64 px: target = first 300 per class of train, test = val",
            64,
            {
                "train": _imagenette("train"),
                "val": _imagenette("val"),
                "test": Alias("val"),
                "target": FileOrder("train", IMAGENETTE_TARGET_PER_CLASS),
                "rest": FileOrder("train", IMAGENETTE_TARGET_PER_CLASS, tail=True),
            },
            classes=tuple(IMAGENETTE_NAMES),
            names=IMAGENETTE_NAMES,
            fetches=(
                Fetch(
                    "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-320.tgz",
                    "imagenette2-320.tgz",
                    "3df6f0d01a2c9592104656642f5e78a3",
                    extract_into="",
                ),
            ),
            expected={"train": 9469, "val": 3925, "test": 3925, "target": 3000, "rest": 6469},
        ),
        DatasetSpec(
            "eurosat",
            "EuroSAT RGB (DI), 64 px; no official split: train/test = 80/20 by file order per class",
            64,
            {
                "all": Stored((FolderTree("eurosat/2750", "eurosat/all", EUROSAT_CLASSES),)),
                "train": FileOrder("all", (4, 5)),
                "test": FileOrder("all", (4, 5), tail=True),
            },
            classes=EUROSAT_CLASSES,
            fetches=(
                Fetch(
                    "https://huggingface.co/datasets/torchgeo/eurosat/resolve/"
                    "c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip",
                    "EuroSAT.zip",
                    "c8fa014336c82ac7804f0398fcb19387",
                    extract_into="eurosat",
                ),
            ),
            expected={"all": 27000},
        ),
        _medmnist(
            "pathmnist", "a8b06965200029087d5bd730944a56c1", "PathMNIST (MedMNIST v2, DI), 28 px", (89996, 10004, 7180)
        ),
        _medmnist(
            "dermamnist", "0744692d530f8e62ec473284d019b0c7", "DermaMNIST (MedMNIST v2, DI), 28 px", (7007, 1003, 2005)
        ),
        _medmnist(
            "bloodmnist", "7053d0359d879ad8a5505303e11de1dc", "BloodMNIST (MedMNIST v2, DI), 28 px", (11959, 1712, 3421)
        ),
        DatasetSpec(
            "imagenet",
            "ImageNet-1k (DDIS), 224 px; local folder only (no automatic download)",
            224,
            {
                "train": Stored((FolderTree("imagenet/train", "imagenet/train"),)),
                "val": Stored((FolderTree("imagenet/val", "imagenet/val"),)),
                "test": Alias("val"),
            },
            names_beside=_imagenet_names,
            manual="ImageNet cannot be downloaded automatically: accept the licence at https://image-net.org, "
            "download ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz, "
            "and lay them out as <data folder>/imagenet/{train,val}/<wnid>/*.JPEG "
            "(torchvision.datasets.ImageNet('<data folder>/imagenet', split=...) does this and writes meta.bin "
            "with the class names). The whole train split does not fit in memory as arrays: use val",
            expected={"train": 1281167, "val": 50000},
        ),
        DatasetSpec(
            "pacs",
            "PACS (DDIS): 4 domains x 7 classes, whole domains",
            64,
            {domain: _pacs(domain) for domain in PACS_DOMAINS},
            classes=PACS_CLASSES,
            fetches=_PACS_FETCH,
            expected=PACS_COUNTS,
        ),
        *(_pacs_domain(domain) for domain in PACS_DOMAINS),
        DatasetSpec(
            "fashion_mnist",
            "Fashion-MNIST, 28 px grayscale (replicated into RGB)",
            28,
            {"train": _fashion("train", "train"), "test": _fashion("test", "t10k")},
            classes=FASHION_CLASSES,
            fetches=tuple(Fetch(_FASHION_URL + name, f"fashion-mnist/{name}", md5) for name, md5 in _FASHION_FILES),
            extra_folders=(Path("/usr/share/datasets"),),
            expected={"train": 60000, "test": 10000},
        ),
        DatasetSpec(
            "pool",
            "the mini world's pretraining pool (LAION's stand-in): 64 px, captioned",
            64,
            {"train": Pool(POOL_PARTS)},
            expected={
                "train": 40000 + 6469 + PACS_COUNTS["photo"] + PACS_COUNTS["art_painting"] + PACS_COUNTS["cartoon"]
            },
        ),
    )
}


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name``, or your own data when ``name`` is a path (``repro.data.own``); an
    unknown name is an error that lists the known ones."""
    if name in DATASETS:
        return DATASETS[name]
    from .own import LAYOUT, is_own_data, own_dataset

    if is_own_data(name):
        return own_dataset(name)
    import difflib

    close = difflib.get_close_matches(name, DATASETS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ReproError(
        f"unknown dataset {name!r}.{hint} Known datasets: {', '.join(DATASETS)}; or your own data: {LAYOUT}"
    )
