"""How much of a classifier's test accuracy is its seed, and whether training side by side changes it.

The mini notebooks' claims compare classifiers over seeds, so their confidence intervals are as wide as one
training's seed-to-seed spread. This trains the notebooks' classifier (ResNet-18, the paper's SGD recipe, batch
128) on one real training set for each of ``--seeds``, in three ways, and tests each on the real test set:

    alone   ``train_classifier`` on the fast path (bf16, compiled, CUDA graphs on a GPU), one seed after another
    grid    ``train_classifiers``: the same jobs side by side, as a notebook's ``TrainingGrid`` trains them
    plain   ``train_classifier`` with ``Speed.plain()``: fp32, eager, no graphs

at each of ``--steps`` and each linear warm-up length of ``--warmup-steps`` (default: the recipe's 2 % of the
steps, 10 of 500; a short warm-up at lr 0.1 is one suspect for a wide spread). A seed's model starts from the
same weights and draws the same batches in every mode, so per seed ``grid - alone`` is what training side by side
changes and ``alone - plain`` what the fast path changes, while the spread over seeds within one mode is the
noise the experiments' intervals carry. One row per
(warm-up, steps, mode, seed) in ``seed_noise.csv``, with the training loss every 25 steps; the summary printed
per (warm-up, steps, mode): mean, standard deviation and range of top-1, and the mean absolute per-seed
difference to ``alone``.

    python bench/seed_noise.py --out results/bench                       # ImageNette target, 500 and 2000 steps
    python bench/seed_noise.py --modes alone grid --steps 500 --warmup-steps 10 100 --out /tmp/bench
    python bench/seed_noise.py --modes alone grid --steps 500 --augment autoaugment --out /tmp/bench
    python bench/seed_noise.py --train pacs_sketch:train --test pacs_sketch:test --steps 500 --out /tmp/bench
    python bench/seed_noise.py --tiny --out /tmp/bench                    # CPU smoke run

A training whose loss diverges on the fast path (a non-finite loss logged, every 25 steps here) is trained again
from its initial weights on the plain path, and its row's ``fallback`` says so (its accuracy is then the plain
one's). One that diverges on the plain path gets a row with no accuracy and the error in ``diverged``, and the
other seeds and modes go on: a grid stops as a whole, so each of its seeds gets the grid's error. ``--lr`` sets
the peak learning rate. (The PACS sketch line above is Table 7's real-only training, whose loss became nan in the
mini run of 26e81237ae22.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from repro.arguments import NONNEGATIVE, POSITIVE, RATE
from repro.classifiers import (
    ARCHS,
    AUGMENTATIONS,
    Pool,
    Recipe,
    Speed,
    TrainingData,
    TrainingJob,
    TrainReport,
    build_model,
    evaluate,
    mean_std,
    train_classifier,
    train_classifiers,
)
from repro.classifiers.cli import open_images
from repro.classifiers.train import resolve_device
from repro.errors import ReproError
from repro.provenance import Provenance, RowsFile

MODES = ("alone", "grid", "plain")
#: steps between the recorded training losses (each record waits for the GPU: fine for a diagnostic)
LOG_EVERY = 25


def tiny_sets() -> tuple[Pool, Pool]:
    """Random 16 px images of 4 classes whose mean colour is their class: learnable in a few steps on a CPU."""
    rng = np.random.default_rng(0)

    def pool(n: int) -> Pool:
        labels = rng.integers(0, 4, n)
        images = rng.integers(0, 64, (n, 16, 16, 3)) + (labels * 60)[:, None, None, None]
        return Pool(images.astype(np.uint8), labels, ["a", "b", "c", "d"])

    return pool(64), pool(64)


def job(data: TrainingData, arch: str, recipe: Recipe, augment: str, seed: int) -> TrainingJob:
    torch.manual_seed(seed)  # a seed's initial weights, the same in every mode
    mean, std = data.channel_stats()
    model = build_model(arch, len(data.classes), data.resolution, mean=mean, std=std)
    return TrainingJob(model, data, recipe, augment=augment, seed=seed, name=f"seed {seed}")


def train(mode: str, jobs: list[TrainingJob], device: torch.device, fast: Speed) -> list[TrainReport | ReproError]:
    """The jobs trained in ``mode``: each one's report, or the error that stopped it (a loss that diverged). A
    grid stops as a whole, so each of its jobs gets the one error."""
    if mode == "grid":
        try:
            return train_classifiers(
                jobs, device=device, speed=fast, max_concurrent=len(jobs), log_every=LOG_EVERY, progress=False
            )
        except ReproError as error:
            return [error] * len(jobs)
    speed = Speed.plain() if mode == "plain" else fast
    reports = []
    for j in jobs:
        try:
            report = train_classifier(
                j.model,
                j.data,
                j.recipe,
                augment=j.augment,
                seed=j.seed,
                device=device,
                speed=speed,
                log_every=LOG_EVERY,
                progress=False,
            )
        except ReproError as error:
            report = error
        reports.append(report)
    return reports


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (warm-up, steps, mode): top-1 mean, standard deviation, range, and the mean |difference| to alone per
    seed."""
    keys = ["warmup_steps", "steps", "seed"]
    alone = table[table["mode"] == "alone"].set_index(keys)["top1"]
    rows = []
    for (warmup, steps, mode), everyone in table.groupby(["warmup_steps", "steps", "mode"], sort=False):
        cell = everyone.dropna(subset=["top1"])  # a training whose loss diverged has no accuracy
        mean, std = mean_std(cell["top1"]) if len(cell) else (float("nan"), float("nan"))
        paired = cell.set_index(keys)["top1"] - alone.reindex(cell.set_index(keys).index)
        rows.append(
            {
                "warmup_steps": warmup,
                "steps": steps,
                "mode": mode,
                "seeds": len(cell),
                "diverged": len(everyone) - len(cell),
                "mean": mean,
                "std": std,
                "min": cell["top1"].min(),
                "max": cell["top1"].max(),
                "mean_abs_diff_to_alone": paired.abs().mean(),
            }
        )
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", default="imagenette:target", help="training set, DATASET:SPLIT")
    parser.add_argument("--test", default="imagenette:test", help="test set, DATASET:SPLIT")
    parser.add_argument("--arch", choices=ARCHS, default="resnet18")
    parser.add_argument("--image-size", type=POSITIVE, default=None, help="decode both sets at N px (default: own)")
    parser.add_argument("--modes", choices=MODES, nargs="+", default=list(MODES))
    parser.add_argument("--steps", type=POSITIVE, nargs="+", default=[500, 2000])
    parser.add_argument(
        "--warmup-steps", type=NONNEGATIVE, nargs="+", default=None, help="warm-up lengths (default: the recipe's)"
    )
    parser.add_argument("--seeds", type=NONNEGATIVE, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--augment", choices=AUGMENTATIONS, default="default", help="augmentation of every training")
    parser.add_argument("--batch-size", type=POSITIVE, default=128)
    parser.add_argument("--lr", type=RATE, default=None, help="peak learning rate (default: the recipe's 0.1)")
    parser.add_argument("--data-root", default=None, help="data folder (default: $REPRO_DATA)")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run: 16 px random sets, a CIFAR ResNet-20")
    parser.add_argument("--out", default="results/bench", help="folder for seed_noise.csv")
    args = parser.parse_args(argv)
    if "grid" in args.modes and "alone" not in args.modes:
        parser.error("--modes grid is compared with alone: name both")
    device = resolve_device(None)
    if args.tiny:
        real, test = tiny_sets()
        arch, batch = "cifar_resnet20", 8
    else:
        real = open_images(args.train, args.data_root, "train", args.image_size)
        test = open_images(args.test, args.data_root, "test", args.image_size)
        arch, batch = args.arch, args.batch_size
    data = TrainingData(real)
    fast = Speed.auto(device)  # on a CPU: plain, as every CPU training
    provenance = Provenance("bench_seed_noise", "bench", vars(args), dataset="random" if args.tiny else args.train)
    rows = RowsFile(Path(args.out) / "seed_noise.csv")
    records = []
    for warmup, steps in [(w, s) for w in args.warmup_steps or [None] for s in args.steps]:
        recipe = Recipe.sgd(steps, batch_size=batch, warmup_steps=warmup, **({"lr": args.lr} if args.lr else {}))
        for mode in args.modes:
            jobs = [job(data, arch, recipe, args.augment, seed) for seed in args.seeds]
            reports = train(mode, jobs, device, fast)
            for j, report in zip(jobs, reports):
                record = dict(mode=mode, steps=steps, warmup_steps=recipe.warmup, lr=recipe.lr, augment=args.augment)
                record.update(arch=arch, batch_size=batch)
                about = f"{mode:5} {steps:5} steps (warm-up {recipe.warmup}) seed {j.seed}"
                if isinstance(report, ReproError):  # a row that says so: the other seeds and modes go on
                    record.update(top1=float("nan"), diverged=str(report))
                    seconds, outcome = float("nan"), str(report)
                else:
                    top1 = evaluate(j.model, test.images, test.labels, device=device)
                    record.update(
                        top1=top1,
                        images_per_second=report.images_per_second,
                        trained_together=report.concurrent,
                        final_loss=report.final_loss,
                        losses=" ".join(f"{step}:{loss:.3f}" for step, loss in report.losses),
                        diverged="",
                        fallback=report.fallback,
                    )
                    seconds, outcome = report.seconds, f"top-1 {top1:.2f} % ({report.seconds:.1f} s)"
                records.append({**record, "seed": j.seed})
                rows.add(provenance.row(seed=j.seed, wall_seconds=seconds, **record))
                print(f"{about}: {outcome}", flush=True)  # minutes apart on a CPU
    print(summary(pd.DataFrame(records)).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
