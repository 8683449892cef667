"""``repro data list | prepare NAME... | verify [NAME...] | export DATASET:SPLIT``: what datasets exist, decode
them into the cache, check archives (sha256), split sizes and per-class counts, and write a split as a folder
of class subfolders (the layout of your own data, ``repro.data.own``)."""

from __future__ import annotations

import argparse
import os
import shutil
import textwrap
import time

from ..arguments import NONNEGATIVE, POSITIVE
from ..errors import ReproError
from ..paths import DATA_ENV
from .load import Loader
from .registry import DATASETS, MINI_WORLD_SPLITS, DatasetSpec, dataset_spec
from .sources import KNOWN_ARCHIVES, file_sha256
from .splits import Pool, Stored

MINI = "mini"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    commands = {
        "list": "list the datasets, their splits and sources, and which are present in the data folder",
        "prepare": f"decode splits into the cache (downloading what is missing when online); NAME is a dataset, "
        f"DATASET/SPLIT, or '{MINI}' for the mini world's splits",
        "verify": "check the known archives' sha256, and print every split's size and per-class counts "
        "(default: every dataset present in the data folder)",
        "export": "write a split as PNG files in one subfolder per class: the layout of your own data",
    }
    for action, help_text in commands.items():
        p = sub.add_parser(action, help=help_text, description=help_text)
        p.add_argument(
            "--root",
            "--data-root",
            dest="root",
            default=None,
            help=f"data folder with the offline archives (default: ${DATA_ENV})",
        )
        if action == "prepare":
            p.add_argument("names", nargs="+", metavar="NAME")
            p.add_argument("--size", type=POSITIVE, default=None, help="image size in pixels (default: the dataset's)")
            p.add_argument("--no-download", action="store_true", help="only read files that are already there")
        if action == "verify":
            p.add_argument("names", nargs="*", metavar="NAME")
        if action == "export":
            p.add_argument("split", metavar="DATASET:SPLIT", help="e.g. cifar10:test")
            p.add_argument("--out", required=True, help="a new folder: OUT/<class>/<number>.png")
            p.add_argument("--per-class", type=POSITIVE, default=None, help="only N seeded images of each class")
            p.add_argument("--seed", type=NONNEGATIVE, default=0, help="seed of the --per-class subset")


def run(args: argparse.Namespace) -> int:
    return {"list": list_datasets, "prepare": prepare, "verify": verify, "export": export}[args.action](args)


def list_datasets(args: argparse.Namespace) -> int:
    loader = Loader(args.root, allow_download=False)
    print(f"data folder: {loader.root or f'(none: ${DATA_ENV} is unset)'}")
    for spec in DATASETS.values():
        print(f"\n{spec.name}  [{spec.size} px]  {spec.title}")
        for split, rule in spec.splits.items():
            where = ""
            if isinstance(rule, Stored):
                found = loader.locate(spec, rule.sources)
                where = f"  -> {found[1]}" if found else "  -> not present"
            print(f"  {split:7s} {rule.describe()}{where}")
        if spec.fetches:
            print(f"  download: {', '.join(f.url for f in spec.fetches)}")
        elif spec.manual:
            print(textwrap.fill(f"manual: {spec.manual}", 110, initial_indent="  ", subsequent_indent="    "))
    return 0


def _targets(names: list[str]) -> list[tuple[str, str]]:
    targets = []
    for name in names:
        if name == MINI:
            targets += [
                *MINI_WORLD_SPLITS,
                *((f"pacs_{d}", s) for d in ("art_painting", "cartoon", "photo") for s in ("train", "test")),
            ]
        elif "/" in name and name.split("/", 1)[0] in DATASETS:
            dataset, split = name.split("/", 1)
            dataset_spec(dataset).split(split)
            targets.append((dataset, split))
        else:
            targets += [(name, split) for split in dataset_spec(name).splits]
    return list(dict.fromkeys(targets))


def prepare(args: argparse.Namespace) -> int:
    loader = Loader(args.root, allow_download=not args.no_download)
    for dataset, split in _targets(args.names):
        start = time.perf_counter()
        image_set = loader.load(dataset, split, args.size)
        print(
            f"{dataset}/{split}: {len(image_set)} images at {image_set.resolution} px, "
            f"{len(image_set.classes)} classes ({time.perf_counter() - start:.1f} s)"
        )
    return 0


def present(loader: Loader, spec: DatasetSpec) -> bool:
    """Whether every split of ``spec`` can be read without downloading."""
    for rule in spec.splits.values():
        if isinstance(rule, Stored) and loader.locate(spec, rule.sources) is None:
            return False
        if isinstance(rule, Pool) and not all(present(loader, dataset_spec(p.dataset)) for p in rule.parts):
            return False
    return True


def _check_archives(loader: Loader) -> bool:
    if loader.root is None:
        print(f"no data folder (${DATA_ENV} unset, no --root): no archives to check")
        return True
    print(f"archives in {loader.root}:")
    good = True
    for name, expected in KNOWN_ARCHIVES.items():
        path = loader.root / name
        if not path.is_file():
            print(f"  {name:26s} absent")
            continue
        ok = file_sha256(path) == expected
        good &= ok
        print(f"  {name:26s} sha256 {'ok' if ok else f'MISMATCH (expected {expected})'}")
    return good


def _report_split(loader: Loader, spec: DatasetSpec, split: str, sets: dict) -> bool:
    try:
        image_set = loader.load(spec.name, split)
    except ReproError as err:
        print(f"  {split:12s} ERROR: {err}")
        return False
    sets[(spec.name, split)] = image_set
    expected = spec.expected.get(split)
    verdict = (
        "" if expected is None else ("  ok" if expected == len(image_set) else f"  MISMATCH (expected {expected:,})")
    )
    print(f"  {split:12s} {len(image_set):>9,} images{verdict}")
    print(_wrap([f"{c} {n}" for c, n in zip(image_set.classes, image_set.class_counts())], indent=16))
    return expected is None or expected == len(image_set)


def _wrap(items: list[str], indent: int, width: int = 110) -> str:
    """Join ``items`` with " · " into lines of at most ``width``, never breaking inside an item."""
    lines, line = [], ""
    for item in items:
        candidate = f"{line} · {item}" if line else item
        if line and indent + len(candidate) > width:
            lines.append(line)
            candidate = item
        line = candidate
    return "\n".join(" " * indent + text for text in lines + [line])


def _check_pool_disjoint(loader: Loader, sets: dict) -> bool:
    pool = sets.get(("pool", "train"))
    if pool is None:
        return True
    ids = set(pool.ids)
    good = True
    for key in MINI_WORLD_SPLITS:
        if key == ("pool", "train"):
            continue
        try:
            other = sets[key] if key in sets else loader.load(*key)
        except ReproError as err:
            print(f"  pool vs {key[0]}/{key[1]}: ERROR: {err}")
            good = False
            continue
        shared = len(ids.intersection(other.ids))
        good &= shared == 0
        print(f"  pool vs {key[0]}/{key[1]}: {'disjoint' if not shared else f'{shared} SHARED ids'}")
    return good


def verify(args: argparse.Namespace) -> int:
    loader = Loader(args.root, allow_download=False)
    good = _check_archives(loader)
    if args.names:
        specs = [dataset_spec(n) for n in args.names]
    else:
        specs = [s for s in DATASETS.values() if present(loader, s)]
        absent = [s.name for s in DATASETS.values() if s not in specs]
        if absent:
            print(f"not present (skipped): {', '.join(absent)}")
    sets: dict = {}
    for spec in specs:
        print(f"\n{spec.name} [{spec.size} px]")
        for split in spec.splits:
            good &= _report_split(loader, spec, split, sets)
    if ("pool", "train") in sets:
        print("\nmini world:")
        good &= _check_pool_disjoint(loader, sets)
    print("\nverify: " + ("all checks passed" if good else "SOME CHECKS FAILED"))
    return 0 if good else 1


def export(args: argparse.Namespace) -> int:
    from PIL import Image

    from ..files import output_folder
    from .imageset import requested

    dataset, colon, split = args.split.rpartition(":")
    if not colon or not dataset:
        raise ReproError(f"{args.split!r} names no split; give DATASET:SPLIT, e.g. cifar10:test")
    out = output_folder(args.out)
    if any(out.iterdir()):
        raise ReproError(f"--out {out} is not empty; export into a new folder")
    images = requested(Loader(args.root).load(dataset, split), args.per_class, args.seed)
    # written beside --out and renamed into place: a killed export leaves no partial dataset behind
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    for number, (image, label) in enumerate(zip(images.images, images.labels)):
        folder = stage / images.classes[label].replace("/", "-")
        folder.mkdir(exist_ok=True)
        Image.fromarray(image).save(folder / f"{number:05d}.png")
    out.rmdir()
    stage.rename(out)
    print(f"{len(images)} images of {len(images.classes)} classes at {images.resolution} px -> {out}")
    return 0
