"""How much work one GPU does when several jobs share it: the mini DAG runs GPU_JOBS processes at once.

Starts ``--processes`` worker processes that each run the same workload, lets them begin together, and reports
every worker's rate and the aggregate (all workers' items over the span from the first start to the last end)
beside one worker alone. Without NVIDIA's Multi-Process Service the GPU time-slices between processes, so the
aggregate of launch-bound jobs stays near one job's rate; with MPS (``nvidia-cuda-mps-control -d`` before the
run) their kernels can run side by side. The row says which it was.

Workloads, each the suite's own code on random data:
    deepinversion  ``repro.baselines.deepinversion.invert_batch``: a CIFAR ResNet-56 teacher at 32 px, batch
                   256, the cifar10 preset (what the mini DAG's DeepInversion assets run), items = image-iterations
    grid           ``repro.classifiers.train_classifiers``: 8 ResNet-18 trainings at 32 px, batch 128, bf16 CUDA
                   graphs without compilation (a notebook's grid), items = training images

    python bench/gpu_sharing.py --processes 1 4 --out results/bench
    python bench/gpu_sharing.py --workloads grid --processes 2 --steps 3 --tiny --out /tmp/bench   # CPU
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from repro.arguments import POSITIVE
from repro.provenance import Provenance, RowsFile

GRID_TRAININGS, GRID_BATCH = 8, 128
DEEPINVERSION_BATCH = 256


def mps_active() -> bool:
    """Whether an MPS control daemon serves this machine (its pipe directory holds a control pipe)."""
    pipes = Path(os.environ.get("CUDA_MPS_PIPE_DIRECTORY", "/tmp/nvidia-mps"))
    return (pipes / "control").exists()


def deepinversion_work(steps: int, tiny: bool, device: torch.device):
    """A function running ``steps`` DeepInversion iterations on one batch; its items per call."""
    from repro.baselines.deepinversion import invert_batch, preset_for
    from repro.classifiers import build_model

    teacher = build_model("cifar_resnet20" if tiny else "cifar_resnet56", 10, 32).to(device).eval()
    batch = 4 if tiny else DEEPINVERSION_BATCH
    labels = torch.arange(batch) % 10
    config = replace(preset_for(32), iterations=steps, batch_size=batch)
    return (lambda: invert_batch(teacher, labels, 32, config)), batch * steps


def grid_work(steps: int, tiny: bool, device: torch.device):
    """A function training a grid of ResNet-18s for ``steps`` steps each; its items per call."""
    from repro.classifiers import Pool, Recipe, Speed, TrainingData, TrainingJob, build_model, train_classifiers

    trainings, batch = (2, 4) if tiny else (GRID_TRAININGS, GRID_BATCH)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch * 4, 32, 32, 3), dtype=np.uint8)
    data = TrainingData(real=Pool(images, rng.integers(0, 10, len(images)), [str(c) for c in range(10)]))
    speed = replace(Speed.auto(device), compile=None)

    def train():
        jobs = [
            TrainingJob(build_model("resnet18", 10, 32), data, Recipe.sgd(steps, batch_size=batch), seed=seed)
            for seed in range(trainings)
        ]
        train_classifiers(jobs, device=device, speed=speed, max_concurrent=trainings, progress=False)

    return train, trainings * batch * steps


WORKLOADS = {"deepinversion": deepinversion_work, "grid": grid_work}


def worker(workload: str, steps: int, tiny: bool, start, results) -> None:
    """One process: build the workload, run it once untimed (allocation, kernel choice), wait for every worker,
    then time one run."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    run, items = WORKLOADS[workload](steps, tiny, device)
    run()
    start.wait()
    began = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    results.put((began, time.perf_counter(), items))


def measure(workload: str, processes: int, steps: int, tiny: bool) -> dict:
    context = mp.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=worker, args=(workload, steps, tiny, start, results)) for _ in range(processes)]
    for p in workers:
        p.start()
    spans = [results.get() for _ in workers]
    for p in workers:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a {workload} worker failed with exit code {p.exitcode}")
    rates = [items / (end - began) for began, end, items in spans]
    span = max(end for _, end, _ in spans) - min(began for began, _, _ in spans)
    return {
        "processes": processes,
        "items_per_s": sum(items for _, _, items in spans) / span,
        "mean_worker_items_per_s": float(np.mean(rates)),
        "span_seconds": span,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", choices=sorted(WORKLOADS), nargs="+", default=sorted(WORKLOADS))
    parser.add_argument("--processes", type=POSITIVE, nargs="+", default=[1, 4], help="workers at once, per row")
    parser.add_argument("--steps", type=POSITIVE, default=100, help="iterations or training steps each worker times")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke run: small models and batches")
    parser.add_argument("--out", default="results/bench", help="folder for gpu_sharing.csv")
    args = parser.parse_args(argv)
    provenance = Provenance("bench_gpu_sharing", "bench", vars(args), dataset="random")
    rows = RowsFile(Path(args.out) / "gpu_sharing.csv")
    mps = mps_active()
    for workload in args.workloads:
        alone = None
        for processes in args.processes:
            row = measure(workload, processes, args.steps, args.tiny)
            alone = alone or (row["items_per_s"] if processes == 1 else None)
            row.update(workload=workload, steps=args.steps, mps=mps)
            row["speedup_over_one"] = row["items_per_s"] / alone if alone else float("nan")
            rows.add(provenance.row(seed=0, wall_seconds=row["span_seconds"], **row))
            print(
                f"{workload} x{processes} (MPS {'on' if mps else 'off'}): {row['items_per_s']:,.0f} items/s in all, "
                f"{row['mean_worker_items_per_s']:,.0f} per worker, {row['speedup_over_one']:.2f}x one worker alone"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
