"""``repro train``: train a classifier with the paper's recipe and evaluate it, or evaluate a checkpoint.

Examples:
    repro train --arch resnet18 --train cifar10:target --test cifar10:test --train-steps 5000 --seed 0 1 2 \\
        --out work/r18
    repro train --arch resnet18 --train cifar10:target --synthetic work/syn --ratio 1:1 --test cifar10:test \\
        --train-steps 5000 --out work/mix
    repro train --eval-checkpoint ../shared/data/models/akamaster-cifar10-resnet56-4bfd9763.th \\
        --arch cifar_resnet56 --test cifar10:test --out work/aka

Image sets: DATASET[:SPLIT] (repro.data.load_split, data folder from --data-root or $REPRO_DATA), where
DATASET may be your own data (a folder with one subfolder per class, or an .npz of images and labels; SPLIT
defaults to train for --train and test for --test), or a synthetic dataset folder written by `repro sample`.
Each (seed, test set) gives one CSV row in OUT/results.csv with the provenance columns; --save also writes
OUT/model-seed{S}.pt. A rerun of the same command keeps the seeds already in OUT/results.csv (a killed run
resumes at the seed it was training).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..arguments import NONNEGATIVE, POSITIVE, RATE, SHARE, device, number
from ..errors import ReproError
from ..provenance import phase


def configure(parser: argparse.ArgumentParser) -> None:
    from .augment import AUGMENTATIONS
    from .models import ARCHS
    from .recipes import OPTIMIZERS

    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--arch", choices=ARCHS, help="architecture (required unless an --eval-checkpoint names its own)"
    )
    parser.add_argument(
        "--train", help="real training images: DATASET[:SPLIT] (your own data too) or a `repro sample` folder"
    )
    parser.add_argument("--synthetic", help="synthetic training images: a `repro sample` folder or DATASET:SPLIT")
    parser.add_argument("--ratio", help="real:synthetic images per batch when both are given, e.g. 1:1, 1:7, 7:1")
    parser.add_argument(
        "--test",
        action="append",
        default=[],
        help="test set (repeatable): DATASET[:SPLIT] (your own data too) or a `repro sample` folder",
    )
    parser.add_argument(
        "--image-size",
        type=POSITIVE,
        default=None,
        help="decode DATASET sets at N px (default: each dataset's own size)",
    )
    parser.add_argument(
        "--holdout-per-class",
        type=POSITIVE,
        default=None,
        help="hold K seeded images of each class out of --train and test on them (column "
        "'holdout'): a split with no test set of its own, such as the pool",
    )
    parser.add_argument(
        "--train-per-class",
        type=POSITIVE,
        default=None,
        help="train on a seeded K images of each class of --train (after --holdout-per-class takes its own)",
    )
    parser.add_argument(
        "--train-roundtrip",
        metavar="GENERATOR",
        help="train on the VAE round trips of --train's images through this generator (and hold out round trips): "
        "a classifier of the images as the generator draws them, to which sharpness does not tell a pool's "
        "sources apart (the LECF filter at mini), e.g. mini",
    )
    parser.add_argument(
        "--vae-generator",
        help="also evaluate on each test set after a VAE round trip through "
        "this generator (Table 6), e.g. mini or sd14",
    )
    parser.add_argument(
        "--eval-checkpoint",
        help="evaluate this checkpoint instead of training "
        "(a `repro train --save` file or an akamaster CIFAR ResNet .th)",
    )
    r = parser.add_argument_group("recipe (appendix B.1)")
    r.add_argument("--train-steps", type=POSITIVE, help="optimisation steps")
    r.add_argument("--batch-size", type=POSITIVE, default=128)
    r.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="sgd (default) or adamw (MedMNIST)")
    r.add_argument("--lr", type=RATE, help="learning rate (default 0.1 for sgd, 1e-3 for adamw)")
    r.add_argument("--weight-decay", type=number(at_least=0), default=5e-4)
    r.add_argument("--momentum", type=number(at_least=0, below=1), default=0.9)
    r.add_argument("--nesterov", action="store_true", help="Nesterov momentum (the authors' code: off)")
    r.add_argument("--warmup-steps", type=NONNEGATIVE, help="linear warm-up steps (default 2%% of --train-steps)")
    r.add_argument("--crop-pad", type=NONNEGATIVE, help="zero padding of the random crop (default resolution // 8)")
    r.add_argument("--augment", choices=AUGMENTATIONS, default="default", help="Table 4 augmentation")
    r.add_argument(
        "--cutout-side", type=number(above=0, at_most=1), default=1 / 8, help="CutOut square side / image side"
    )
    r.add_argument("--seed", type=NONNEGATIVE, nargs="+", default=[0], help="one run per seed")
    k = parser.add_argument_group("knowledge distillation")
    k.add_argument("--teacher", help="distil this classifier checkpoint into --arch (KD loss)")
    k.add_argument("--kd-temperature", type=RATE, default=4.0)
    k.add_argument("--kd-alpha", type=SHARE, default=0.0, help="weight of the label cross entropy (0: KD only)")
    o = parser.add_argument_group("output and runtime")
    o.add_argument("--out", required=True, help="folder for results.csv (and weights with --save)")
    o.add_argument("--save", action="store_true", help="also save the trained weights")
    o.add_argument("--experiment", default="train", help="provenance: experiment id")
    o.add_argument("--scale", default="adhoc", help="provenance: scale")
    o.add_argument("--table", default="", help="result rows' table label")
    o.add_argument("--data-root", help="offline data folder (default $REPRO_DATA)")
    o.add_argument("--device", type=device, default="auto", help="auto, cuda or cpu")
    o.add_argument("--plain", action="store_true", help="plain eager fp32 loop (no bf16, compile, CUDA graph)")
    o.add_argument(
        "--compile-mode",
        default="default",
        help="torch.compile mode of the fast path: default or max-autotune-no-cudagraphs",
    )
    o.add_argument("--no-compile", action="store_true", help="keep bf16 and the CUDA graph, skip torch.compile")
    o.add_argument("--no-graph", action="store_true", help="do not replay the step as a CUDA graph")
    o.add_argument("--quiet", action="store_true")


def open_images(spec: str, data_root: str | None, split: str, size: int | None = None):
    """An image set (images uint8 [N, H, W, 3], labels, classes, name) from a `repro sample` folder or
    DATASET[:SPLIT], ``split`` when the spec names none (DATASET may be your own data: ``repro.data.own``)."""
    from .mixing import Pool

    path = Path(spec).expanduser()
    if path.is_dir() and (path / "index.json").is_file():
        from ..sampling.dataset import SyntheticDataset

        dataset = SyntheticDataset(path)
        arrays = dataset.load()
        return Pool(arrays.images, arrays.labels, dataset.classes, name=str(spec))
    from ..data import load_split

    dataset, colon, named = spec.rpartition(":")
    if not colon or not dataset:
        dataset, named = spec, split
    return load_split(dataset, named, root=data_root, size=size)


def _speed(args, device):
    from dataclasses import replace

    from .train import Speed

    if args.plain:
        return Speed.plain()
    speed = Speed.auto(device)
    if device.type == "cuda":
        speed = replace(speed, compile=None if args.no_compile else args.compile_mode, cuda_graph=not args.no_graph)
    return speed


def _test_sets(args, device) -> list[tuple[str, object, object]]:
    """(label, images, labels) for every --test, plus their VAE round trips with --vae-generator."""
    sets = []
    for spec in args.test:
        test = open_images(spec, args.data_root, "test", args.image_size)
        sets.append((spec, test.images, test.labels))
    if args.vae_generator:
        from ..generators import load_generator
        from ..sampling.roundtrip import vae_roundtrip

        bundle = load_generator(args.vae_generator, dtype="fp32", device=device)
        sets += [
            (f"vae[{args.vae_generator}]({label})", vae_roundtrip(bundle, images), labels)
            for label, images, labels in list(sets)
        ]
    return sets


def run(args) -> int:
    import torch

    from ..files import output_folder, write_arguments
    from ..provenance import Provenance, timed, write_rows
    from .evaluate import evaluate
    from .train import resolve_device

    if not args.test and not args.holdout_per_class:
        raise ReproError("give at least one --test set, e.g. --test cifar10:test, or --holdout-per-class K")
    out = output_folder(args.out)
    device = resolve_device(args.device)
    speed = _speed(args, device)
    # what decides one seed's rows: a rerun with more seeds keeps the rows of the seeds it shares
    config = {k: v for k, v in vars(args).items() if k not in ("out", "quiet", "command", "seed")}

    if args.eval_checkpoint:
        from .models import load_classifier

        model = load_classifier(args.eval_checkpoint, arch=args.arch)  # a wrong checkpoint fails before data loads
        tests = _test_sets(args, device)
        prov = Provenance(args.experiment, args.scale, config, dataset=args.eval_checkpoint)
        rows = [
            prov.row(
                seed=None,
                wall_seconds=None,
                table=args.table,
                row=model.arch,
                column=label,
                value=evaluate(model, images, labels, device=device, speed=speed),
                unit="%",
                arch=model.arch,
                checkpoint=args.eval_checkpoint,
                test=label,
                metric="top1",
            )
            for label, images, labels in tests
        ]
        write_rows(rows, out / "results.csv")
        _print(rows)
        return 0

    if args.arch is None or args.train_steps is None:
        raise ReproError("training needs --arch and --train-steps (or pass --eval-checkpoint to evaluate)")
    teacher = None
    if args.teacher:
        from .models import load_classifier

        teacher = load_classifier(args.teacher)  # a bad teacher fails before any training
    data, recipe, holdout = _training_setup(args, device)
    tests = _test_sets(args, device) + ([("holdout", holdout.images, holdout.labels)] if holdout else [])
    row_label = " + ".join(s for s in (args.train, args.synthetic) if s) + (f" ({args.ratio})" if args.ratio else "")
    prov = Provenance(args.experiment, args.scale, config, dataset=row_label)
    results = out / "results.csv"
    finished = _finished_seeds(
        results, prov.config_hash, args.seed, [label for label, _, _ in tests], out if args.save else None
    )
    for seed in args.seed:
        if seed in finished:
            print(f"seed {seed}: kept from {results} (trained with these settings before)")
            continue
        with timed() as wall:
            model, report = _train_one(args, data, recipe, seed, device, speed, teacher)
        if args.save:
            from .models import save_classifier

            save_classifier(model, out / f"model-seed{seed}.pt", seed=seed, train=row_label, steps=recipe.steps)
        finished[seed] = [
            prov.row(
                seed=seed,
                wall_seconds=wall(),
                table=args.table,
                row=f"{args.arch} {row_label}",
                column=label,
                value=evaluate(model, images, labels, device=device, speed=speed),
                unit="%",
                metric="top1",
                arch=args.arch,
                train=args.train,
                synthetic=args.synthetic,
                ratio=args.ratio,
                augment=args.augment,
                steps=recipe.steps,
                batch_size=recipe.batch_size,
                optimizer=recipe.optimizer,
                test=label,
                train_seconds=round(report.seconds, 2),
                images_per_second=round(report.images_per_second),
                final_loss=round(report.final_loss, 4),
            )
            for label, images, labels in tests
        ]
        # after every seed (its weights first), so a killed or failing run keeps, and a rerun skips, finished seeds
        write_rows([row for s in args.seed if s in finished for row in finished[s]], results)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    write_arguments(out, args)
    _print([row for s in args.seed for row in finished[s]])
    return 0


def _finished_seeds(results: Path, config_hash: str, seeds, columns: list[str], weights: Path | None) -> dict:
    """seed -> its rows in ``results`` from a run with these settings, for each seed that run finished (every
    test column recorded, and its weights saved where ``weights`` names their folder)."""
    if not results.exists():
        return {}
    import pandas as pd

    from ..files import read_damageable

    frame = read_damageable(
        results,
        lambda p: pd.read_csv(p, dtype={"config_hash": str, "column": str}),
        "results file",
        "delete it to train every seed again",
    )
    if not {"config_hash", "seed", "column"} <= set(frame.columns):
        return {}
    mine = frame[frame["config_hash"] == config_hash]
    finished = {}
    for seed in seeds:
        rows = mine[mine["seed"] == seed]
        saved = weights is None or (weights / f"model-seed{seed}.pt").is_file()
        if sorted(rows["column"]) == sorted(columns) and saved:
            finished[seed] = rows.to_dict("records")
    return finished


def _training_setup(args, device):
    from .mixing import TrainingData, parse_ratio
    from .recipes import Recipe

    real = open_images(args.train, args.data_root, "train", args.image_size) if args.train else None
    # the options that take a DATASET:SPLIT's images apart, checked before any of them works
    for option, does in (
        ("holdout_per_class", "splits"),
        ("train_per_class", "takes images of each class of"),
        ("train_roundtrip", "passes through the VAE the images of"),
    ):
        if getattr(args, option) and not hasattr(real, "per_class"):
            flag = "--" + option.replace("_", "-")
            raise ReproError(f"{flag} {does} a DATASET:SPLIT given with --train")
    synthetic = open_images(args.synthetic, args.data_root, "train", args.image_size) if args.synthetic else None
    holdout = None
    if args.holdout_per_class:
        smallest = int(real.class_counts().min())
        if args.holdout_per_class >= smallest:
            raise ReproError(
                f"--holdout-per-class {args.holdout_per_class} leaves no training image in a class of "
                f"{real.name}, whose smallest class has {smallest}; give at most {smallest - 1}"
            )
        holdout = real.per_class(args.holdout_per_class, seed=0)
        real = real.without(holdout.ids)
    if args.train_per_class:
        real = real.per_class(args.train_per_class, seed=0)
    if args.train_roundtrip:
        from ..generators import load_generator
        from ..sampling.roundtrip import roundtrip_set

        bundle = load_generator(args.train_roundtrip, dtype="fp32", device=device)  # fp32: the card's judge's trips
        real = roundtrip_set(bundle, real)
        holdout = roundtrip_set(bundle, holdout) if holdout is not None else None
    if args.ratio and not (real is not None and synthetic is not None):
        raise ReproError("--ratio mixes real and synthetic data; give both --train and --synthetic")
    data = TrainingData(real, synthetic, parse_ratio(args.ratio) if args.ratio else None)
    overrides = dict(
        batch_size=args.batch_size,
        weight_decay=args.weight_decay,
        momentum=args.momentum,
        nesterov=args.nesterov,
        warmup_steps=args.warmup_steps,
        crop_pad=args.crop_pad,
    )
    if args.lr is not None:
        overrides["lr"] = args.lr
    recipe = (Recipe.adamw if args.optimizer == "adamw" else Recipe.sgd)(args.train_steps, **overrides)
    return data, recipe, holdout


@phase("training")  # as the notebooks' trainings: an asset job's phases say where its time went
def _train_one(args, data, recipe, seed, device, speed, teacher):
    import torch

    from .models import build_model
    from .train import train_classifier

    torch.manual_seed(seed)
    mean, std = data.channel_stats(device)
    model = build_model(args.arch, len(data.classes), data.resolution, mean=mean, std=std)
    options = dict(
        augment=args.augment,
        seed=seed,
        device=device,
        speed=speed,
        cutout_side=args.cutout_side,
        progress=not args.quiet,
    )
    if teacher is not None:
        from .distill import distil

        report = distil(teacher, model, data, recipe, temperature=args.kd_temperature, alpha=args.kd_alpha, **options)
    else:
        report = train_classifier(model, data, recipe, **options)
    return model, report


def _print(rows) -> None:
    from .evaluate import mean_std

    for row in rows:
        print(
            f"{row['row']} | {row['column']}: top-1 {row['value']:.2f} %"
            + (f" (seed {row['seed']})" if row["seed"] is not None else "")
        )
    cells: dict[tuple, list[float]] = {}
    for row in rows:
        cells.setdefault((row["row"], row["column"]), []).append(row["value"])
    for (label, column), values in cells.items():
        if len(values) > 1:
            mean, std = mean_std(values)
            print(f"{label} | {column}: top-1 {mean:.2f} ± {std:.2f} % over {len(values)} seeds")
