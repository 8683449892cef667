"""Classifier training speed: ResNet-18 at 32 px, images/s at batch 128 and 512, plain loop vs fast path.

Runs the training loop the experiments use (``repro.classifiers.train_classifier``: GPU-resident batches with
random crop and flip, the paper's SGD recipe) on random CIFAR-sized data, in these modes:

    plain     fp32, eager, a Python loop step by step (the issue's reference: 10.7K img/s at 128, 34K at 512)
    bf16      bf16 autocast + channels-last, eager
    graph     bf16 + channels-last, the whole step replayed as one CUDA graph
    fast      graph + torch.compile (mode "default"): what `repro train` runs on a GPU
    autotune  graph + torch.compile(mode="max-autotune-no-cudagraphs")   (only with --autotune; long compile)

Images/s are timed after the first steps (warm-up, compilation and graph capture are reported apart), and
training FLOPs per image (torch.utils.flop_counter) give the achieved TFLOP/s.

    python bench/classifier_speed.py --out results/bench                  # GPU, about 3-4 minutes on an H100
    python bench/classifier_speed.py --out /tmp/bench --tiny               # CPU smoke run of the same code
"""

from __future__ import annotations

import argparse
import gc
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from repro.classifiers import Pool, Recipe, Speed, TrainingData, build_model, train_classifier
from repro.provenance import Provenance, write_rows

TARGET_AT_128 = 30_000  # images/s on one H100 (issue 9)
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


def train_flops_per_image(arch: str, resolution: int, device: torch.device) -> float:
    """Forward + backward FLOPs of one image (counted at batch 8)."""
    model = build_model(arch, 10, resolution).to(device)
    x = torch.rand(8, 3, resolution, resolution, device=device)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), torch.zeros(8, dtype=torch.long, device=device)).backward()
    return counter.get_total_flops() / 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bench", help="folder for classifier_speed.csv")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--steps", type=int, default=400, help="steps per measurement (the first 10 %% untimed)")
    parser.add_argument("--modes", nargs="+", default=None, help="subset of plain bf16 graph fast autotune")
    parser.add_argument("--autotune", action="store_true", help="also measure max-autotune compilation")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run: small model, few steps")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    if args.tiny:
        args.arch, args.resolution, args.batch_sizes, args.steps = "cifar_resnet20", 16, [32], 12
    chosen = modes(args.autotune)
    if args.modes:
        chosen = {k: v for k, v in chosen.items() if k in args.modes}
    if device.type == "cpu":
        chosen = {k: v for k, v in chosen.items() if not v.cuda_graph and not v.compile}

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
    flops = train_flops_per_image(args.arch, args.resolution, device)
    prov = Provenance("bench_classifier_speed", "bench", vars(args), dataset="random uint8, 10 classes")
    rows = []
    for batch in args.batch_sizes:
        for name, speed in chosen.items():
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            torch.manual_seed(0)
            model = build_model(args.arch, 10, args.resolution)
            report = train_classifier(
                model, data, Recipe.sgd(args.steps, batch_size=batch), speed=speed, device=device, progress=False
            )
            steady = (args.steps - report.timed_from) * batch / report.images_per_second
            row = prov.row(
                seed=0,
                wall_seconds=report.seconds,
                arch=args.arch,
                resolution=args.resolution,
                batch_size=batch,
                mode=name,
                bf16=speed.bf16,
                channels_last=speed.channels_last,
                compile=speed.compile or "",
                cuda_graph=speed.cuda_graph and device.type == "cuda",
                steps=args.steps,
                images_per_second=round(report.images_per_second),
                ms_per_step=round(1000 * batch / report.images_per_second, 3),
                warmup_seconds=round(report.seconds - steady, 2),
                train_gflop_per_image=round(flops / 1e9, 3),
                achieved_tflops=round(report.images_per_second * flops / 1e12, 1),
                peak_memory_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None,
                plain_reference=PLAIN_REFERENCE.get(batch) if args.resolution == 32 else None,
                final_loss=round(report.final_loss, 4),
            )
            rows.append(row)
            print(
                f"{args.arch} {args.resolution}px batch {batch:4d} {name:8s}: {row['images_per_second']:>8,} img/s "
                f"({row['ms_per_step']} ms/step, {row['achieved_tflops']} TFLOP/s, warm-up {row['warmup_seconds']} s)"
            )
            write_rows(rows, f"{args.out}/classifier_speed.csv")
            del model
    best_128 = max((r["images_per_second"] for r in rows if r["batch_size"] == 128), default=0)
    if device.type == "cuda" and 128 in args.batch_sizes:
        verdict = "meets" if best_128 >= TARGET_AT_128 else "misses"
        print(f"best at batch 128: {best_128:,} img/s ({verdict} the {TARGET_AT_128:,} target)")


if __name__ == "__main__":
    main()
