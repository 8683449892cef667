"""Classifier training speed: ResNet-18 at 32 px, one training at batch 128 and 512, and grids trained together.

Runs the training loop the experiments use on random CIFAR-sized data (GPU-resident batches with random crop
and flip, the paper's SGD recipe). One training (``repro.classifiers.train_classifier``) in these modes:

    plain     fp32, eager, a Python loop step by step (the issue's reference: 10.7K img/s at 128, 34K at 512)
    bf16      bf16 autocast + channels-last, eager
    graph     bf16 + channels-last, the whole step replayed as one CUDA graph
    fast      graph + torch.compile (mode "default"): what `repro train` and every training of the experiments
              runs on a GPU
    autotune  graph + torch.compile(mode="max-autotune-no-cudagraphs")   (only with --autotune; long compile)

and grids (``--grids``, default 8 and 16 trainings, each its own seed): the trainings a notebook's
``TrainingGrid`` hands to ``repro.classifiers.train_classifiers``, run together on the GPU in the fast mode, each
on its own CUDA stream. A grid's row gives the aggregate images/s (every training's timed images over the
longest timed span: the trainings advance in lockstep, so their spans coincide), the mean and lowest
per-training rate, and the single fast training at the same batch beside it.

Images/s are timed after the first steps (warm-up, compilation and graph capture are reported apart), and
training FLOPs per image (torch.utils.flop_counter) give the achieved TFLOP/s and their share of the bf16
matrix-product rate measured on the same GPU.

``--profile`` also writes ``classifier_speed_profile.txt``: for one fast training and for a grid of 8 at the grid
batch (``--profile-steps`` steps each, their warm-up and graph capture included), the wall time beside the summed
kernel time and the kernels that took the most GPU time: what bounds a training and what bounds a grid.

    python bench/classifier_speed.py --out results/bench                  # GPU, about 5 minutes on an H100
    python bench/classifier_speed.py --out /tmp/bench --tiny               # CPU smoke run of the same code
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from repro.arguments import POSITIVE
from repro.classifiers import Pool, Recipe, Speed, TrainingData, TrainingJob, build_model, train_classifiers
from repro.experiments.timing import (
    classifier_train_flops,
    kernel_table,
    matmul_tflops,
    peak_memory_gib,
    reset_memory,
)
from repro.provenance import Provenance, RowsFile

#: issue 14's targets on one H100 at batch 128: one training on the path the experiments call, and a grid of at
#: least 8 trainings in aggregate
TARGET_AT_128, GRID_TARGET, GRID_AT_LEAST = 50_000, 150_000, 8
PLAIN_REFERENCE = {128: 10_700, 512: 34_000}  # the plain loop on one H100


def modes(autotune: bool) -> dict[str, Speed]:
    fast = Speed()
    found = {
        "plain": Speed.plain(),
        "bf16": replace(fast, compile=None, cuda_graph=False),
        "graph": replace(fast, compile=None),
        "fast": fast,
    }
    if autotune:
        found["autotune"] = replace(fast, compile="max-autotune-no-cudagraphs")
    return found


def train_together(args, data, batch: int, trainings: int, speed: Speed, device: torch.device):
    """``trainings`` trainings of ``args.arch`` (seeds 0, 1, ...) trained together; their reports."""
    jobs = []
    for seed in range(trainings):
        torch.manual_seed(seed)
        model = build_model(args.arch, 10, args.resolution)
        jobs.append(TrainingJob(model, data, Recipe.sgd(args.steps, batch_size=batch), seed=seed))
    return train_classifiers(jobs, device=device, speed=speed, max_concurrent=trainings, progress=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bench", help="folder for classifier_speed.csv")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--resolution", type=POSITIVE, default=32)
    parser.add_argument("--batch-sizes", type=POSITIVE, nargs="+", default=[128, 512])
    parser.add_argument("--steps", type=POSITIVE, default=400, help="steps per training (the first 10 %% untimed)")
    parser.add_argument("--modes", nargs="+", default=None, help="subset of plain bf16 graph fast autotune")
    parser.add_argument("--autotune", action="store_true", help="also measure max-autotune compilation")
    parser.add_argument("--grids", type=POSITIVE, nargs="*", default=[8, 16], help="trainings per grid (none: no grid)")
    parser.add_argument("--grid-batch", type=POSITIVE, default=128, help="the batch of every training of a grid")
    parser.add_argument("--profile", action="store_true", help="also write the top kernels of a training and a grid")
    parser.add_argument("--profile-steps", type=POSITIVE, default=100, help="steps of each profiled training")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run: small model, few steps")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    if args.tiny:
        args.arch, args.resolution, args.batch_sizes, args.steps = "cifar_resnet20", 16, [16], 8
        args.grids, args.grid_batch = [2], 16
    chosen = modes(args.autotune)
    if args.modes:
        chosen = {k: v for k, v in chosen.items() if k in args.modes}
    if device.type == "cpu":
        chosen = {k: v for k, v in chosen.items() if not v.cuda_graph and not v.compile}
    # the experiments' path: Speed.auto, fast on a GPU and plain fp32 on a CPU
    experiments_mode = "fast" if device.type == "cuda" else "plain"

    rng = np.random.default_rng(0)
    n = 50_000 if not args.tiny else 512
    data = TrainingData(
        real=Pool(
            rng.integers(0, 256, (n, args.resolution, args.resolution, 3), dtype=np.uint8),
            rng.integers(0, 10, n),
            [str(c) for c in range(10)],
            "random-cifar",
        )
    )
    flops = classifier_train_flops(args.arch, 10, args.resolution, device, batch=8)
    peak = matmul_tflops(device)
    prov = Provenance("bench_classifier_speed", "bench", vars(args), dataset="random uint8, 10 classes")
    results, single = RowsFile(f"{args.out}/classifier_speed.csv"), {}

    def record(batch: int, mode: str, speed: Speed, trainings: int, images_per_second: float, seconds: float, **extra):
        tflops = images_per_second * flops / 1e12
        row = prov.row(
            seed=0,
            wall_seconds=seconds,
            arch=args.arch,
            resolution=args.resolution,
            batch_size=batch,
            mode=mode,
            trainings=trainings,
            bf16=speed.bf16,
            channels_last=speed.channels_last,
            compile=speed.compile or "",
            cuda_graph=speed.cuda_graph and device.type == "cuda",
            steps=args.steps,
            images_per_second=round(images_per_second),
            **extra,
            train_gflop_per_image=round(flops / 1e9, 3),
            achieved_tflops=round(tflops, 1),
            peak_tflops=round(peak, 1),
            share_of_peak=round(tflops / peak, 4) if device.type == "cuda" else None,
            peak_memory_gib=peak_memory_gib(device),
            plain_reference=PLAIN_REFERENCE.get(batch) if args.resolution == 32 and trainings == 1 else None,
        )
        results.add(row)
        return row

    for batch in args.batch_sizes:
        for name, speed in chosen.items():
            reset_memory(device)
            (report,) = train_together(args, data, batch, 1, speed, device)
            steady = (args.steps - report.timed_from) * batch / report.images_per_second
            row = record(
                batch,
                name,
                speed,
                1,
                report.images_per_second,
                report.seconds,
                ms_per_step=round(1000 * batch / report.images_per_second, 3),
                warmup_seconds=round(report.seconds - steady, 2),
                final_loss=round(report.final_loss, 4),
            )
            single[(batch, name)] = row["images_per_second"]
            print(
                f"{args.arch} {args.resolution}px batch {batch:4d} {name:8s}: {row['images_per_second']:>8,} img/s "
                f"({row['ms_per_step']} ms/step, {row['achieved_tflops']} TFLOP/s, warm-up {row['warmup_seconds']} s)",
                flush=True,
            )

    speed = Speed.auto(device)
    reference = single.get((args.grid_batch, experiments_mode))
    for trainings in args.grids:
        reset_memory(device)
        reports = train_together(args, data, args.grid_batch, trainings, speed, device)
        timed = [(args.steps - r.timed_from) * args.grid_batch for r in reports]
        spans = [images / r.images_per_second for images, r in zip(timed, reports)]
        aggregate = sum(timed) / max(spans)
        each = [r.images_per_second for r in reports]
        row = record(
            args.grid_batch,
            f"grid of {trainings}",
            speed,
            trainings,
            aggregate,
            max(r.seconds for r in reports),
            per_training_images_per_second=round(float(np.mean(each))),
            slowest_training_images_per_second=round(min(each)),
            single_images_per_second=reference,
            speedup_over_single=round(aggregate / reference, 2) if reference else None,
            warmup_seconds=round(max(r.seconds - span for r, span in zip(reports, spans)), 2),
            final_loss=round(float(np.mean([r.final_loss for r in reports])), 4),
        )
        print(
            f"{trainings} x {args.arch} {args.resolution}px batch {args.grid_batch} together: "
            f"{row['images_per_second']:>8,} img/s in all, {row['per_training_images_per_second']:,} per training "
            f"(one alone: {reference or 'not measured'}; {row['achieved_tflops']} TFLOP/s)",
            flush=True,
        )

    if args.profile:
        profiled = argparse.Namespace(**{**vars(args), "steps": args.profile_steps})
        tables = [
            f"## {trainings} x {args.arch} {args.resolution}px batch {args.grid_batch}, {profiled.steps} steps each "
            f"({experiments_mode} path):\n"
            + kernel_table(partial(train_together, profiled, data, args.grid_batch, trainings, speed, device), device)
            for trainings in (1, GRID_AT_LEAST)
        ]
        Path(args.out, "classifier_speed_profile.txt").write_text("\n\n".join(tables))

    if device.type == "cuda":
        alone = single.get((128, experiments_mode))
        if alone is not None:
            verdict = "meets" if alone >= TARGET_AT_128 else "misses"
            print(f"one training at batch 128 ({experiments_mode}): {alone:,} img/s ({verdict} {TARGET_AT_128:,})")
        grids = [r for r in results.rows if r["trainings"] >= GRID_AT_LEAST and r["batch_size"] == 128]
        if grids:
            best = max(r["images_per_second"] for r in grids)
            verdict = "meets" if best >= GRID_TARGET else "misses"
            print(f"best grid of >= {GRID_AT_LEAST} at batch 128: {best:,} img/s ({verdict} {GRID_TARGET:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
