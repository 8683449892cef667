"""GPU benchmark of the metrics layer: feature extraction throughput and the cost of each metric.

    python -m repro.metrics.benchmark --out results/bench/metrics.csv

Measures (one CSV row each, with provenance): classifier feature extraction in images/s at the mini world's
sizes; FID, KID and precision/recall/density/coverage at paper sizes (50k x 2048 Inception-width and
50k x 4096 VGG-width Gaussian features on the device); and the largest difference between device and CPU
results on the same features, which must be rounding only.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np
import torch

from ..provenance import Provenance, write_rows
from . import scores
from .features import ClassifierFeatures, default_device, extract_features
from .sources import ImageSource


def _timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    value = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return value, time.perf_counter() - start


def _metric_costs(n: int, dim: int, device: torch.device) -> list[dict]:
    g = torch.Generator(device=device).manual_seed(0)
    real = torch.randn(n, dim, device=device, generator=g)
    fake = torch.randn(n, dim, device=device, generator=g) * 1.1 + 0.05
    rows = []
    for name, fn in (
        ("fid", lambda: scores.fid(real, fake)),
        ("kid", lambda: scores.kid(real, fake)[0]),
        ("prdc", lambda: scores.precision_recall_density_coverage(real, fake)["coverage"]),
    ):
        value, seconds = _timed(fn)
        rows.append({"measure": f"{name}_seconds", "n": n, "dim": dim, "value": seconds, "result": value})
    return rows


def _device_vs_cpu(n: int, dim: int, device: torch.device) -> dict:
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g) + 0.1
    on_device = {
        **scores.precision_recall_density_coverage(real.to(device), fake.to(device)),
        "kid": scores.kid(real.to(device), fake.to(device), subsets=10)[0],
        "fid": scores.fid(real.to(device), fake.to(device)),
    }
    on_cpu = {
        **scores.precision_recall_density_coverage(real, fake),
        "kid": scores.kid(real, fake, subsets=10)[0],
        "fid": scores.fid(real, fake),
    }
    worst = max(abs(on_device[k] - on_cpu[k]) / max(1e-12, abs(on_cpu[k])) for k in on_cpu)
    return {"measure": "device_vs_cpu_max_rel_diff", "n": n, "dim": dim, "value": worst, "result": None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bench/metrics.csv")
    parser.add_argument("--images", type=int, default=20000, help="images per extraction measurement")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--paper-n", type=int, default=50000, help="samples per set at paper sizes")
    args = parser.parse_args(argv)

    from ..classifiers import build_model

    device = default_device()
    rows = []
    images = np.random.default_rng(0).integers(0, 256, size=(args.images, 64, 64, 3), dtype=np.uint8)
    for arch, size in (("resnet18", 32), ("resnet18", 64), ("cifar_resnet56", 32)):
        net = ClassifierFeatures(build_model(arch, 10, size).to(device), f"{arch}-{size}")
        source = ImageSource.from_array(images, "random")
        extract_features(ImageSource.from_array(images[: args.batch_size], "warm-up"), [net], args.batch_size)
        features, seconds = _timed(partial(extract_features, source, [net], args.batch_size))
        width = features[net.name].embeddings.shape[1]
        rows.append(
            {
                "measure": "extract_images_per_second",
                "n": args.images,
                "dim": width,
                "value": args.images / seconds,
                "result": None,
                "features": net.name,
            }
        )
    for dim in (2048, 4096):
        rows += _metric_costs(args.paper_n, dim, device)
    rows.append(_device_vs_cpu(3000, 512, device))

    provenance = Provenance("bench_metrics", "bench", vars(args))
    frame = write_rows([provenance.row(**row) for row in rows], args.out)
    print(frame[["measure", "n", "dim", "value", "result"] + (["features"] if "features" in frame else [])].to_string())


if __name__ == "__main__":
    main()
