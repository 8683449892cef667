"""GPU batch path throughput: images/s of repro.data.gpu.GpuBatches with random crop and flip, 32 and 64 px.

Synthetic uint8 images stand in for a dataset (the path never looks at pixel values). For each resolution and
batch size: a warm-up, then ``--repeats`` timed runs of ``--batches`` batches each, timed with CUDA events
around the whole run (synchronised); the CSV reports the median images/s with the min and max over repeats,
and a row without augmentation as the baseline of a pure gather.

    python bench/data_throughput.py --out results/bench      (or: repro bench data_throughput --out ...)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from repro.arguments import NONNEGATIVE, POSITIVE
from repro.data.gpu import GpuBatches
from repro.provenance import Provenance, timed, write_rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bench", help="folder for data_throughput.csv")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", type=POSITIVE, nargs="+", default=[32, 64])
    parser.add_argument("--batch-sizes", type=POSITIVE, nargs="+", default=[128, 512])
    parser.add_argument("--images", type=POSITIVE, default=50000, help="images held on the device")
    parser.add_argument("--batches", type=POSITIVE, default=200, help="batches per timed run")
    parser.add_argument("--warmup", type=NONNEGATIVE, default=20, help="batches before timing")
    parser.add_argument("--repeats", type=POSITIVE, default=5)
    parser.add_argument("--crop-pad", type=NONNEGATIVE, default=4)
    parser.add_argument("--seed", type=NONNEGATIVE, default=0)
    return parser.parse_args()


def elapsed_seconds(batches: GpuBatches, count: int, device: torch.device) -> float:
    """Wall time to produce ``count`` batches, every queued kernel finished."""
    stream = iter(batches.forever())
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        for _ in range(count):
            next(stream)
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1000.0
    begin = time.perf_counter()
    for _ in range(count):
        next(stream)
    return time.perf_counter() - begin


def measure(args: argparse.Namespace, size: int, batch_size: int, crop_pad: int, flip: bool) -> dict:
    device = torch.device(args.device)
    rng = np.random.default_rng(args.seed)
    images = rng.integers(0, 256, (args.images, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, args.images)
    batches = GpuBatches(images, labels, batch_size, device, crop_pad=crop_pad, flip=flip, seed=args.seed)
    elapsed_seconds(batches, args.warmup, device)
    rates = [args.batches * batch_size / elapsed_seconds(batches, args.batches, device) for _ in range(args.repeats)]
    median = statistics.median(rates)
    return {
        "resolution": size,
        "batch_size": batch_size,
        "crop_pad": crop_pad,
        "flip": flip,
        "images_per_s": round(median),
        "images_per_s_min": round(min(rates)),
        "images_per_s_max": round(max(rates)),
        "ms_per_batch": round(1000 * batch_size / median, 4),
        "device_images": args.images,
        "batches_timed": args.batches,
        "repeats": args.repeats,
    }


def main() -> None:
    args = parse_args()
    prov = Provenance("bench_data_throughput", "bench", vars(args), generator="", dataset="synthetic uint8")
    rows = []
    for size in args.sizes:
        for batch_size in args.batch_sizes:
            for crop_pad, flip in ((args.crop_pad, True), (0, False)):
                with timed() as wall:
                    fields = measure(args, size, batch_size, crop_pad, flip)
                rows.append(prov.row(seed=args.seed, wall_seconds=wall(), **fields))
                print(
                    f"{size:3d} px  batch {batch_size:4d}  crop_pad {crop_pad} flip {flip!s:5s}  "
                    f"{fields['images_per_s']:>12,} images/s  ({fields['ms_per_batch']:.3f} ms/batch)"
                )
    path = Path(args.out) / "data_throughput.csv"
    write_rows(rows, path)
    print(path)


if __name__ == "__main__":
    main()
