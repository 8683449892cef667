"""Speed of the KNN-retrieval and LECF baselines at mini-world sizes (repro.baselines.knn / .lecf).

- KNN: pool features through a ResNet-18 at 64 px (images per second, ``repro.metrics.extract_features``) and
  the chunked cosine top-50 search of 3,000 queries in a 52,000-image pool (the ImageNette / PACS-sketch
  target sets against the mini pool), 512-d features.
- LECF: attempts per second (generate with the mini model's architecture, 50 DDIM steps, guidance, bf16,
  decode, filter with a ResNet-18) through ``LECF.select`` at threshold 0, i.e. every attempt kept.
The embedded mini weights are used when present, else the same architecture with random weights (speed
depends on the architecture only).

    python bench/baselines_speed.py --out results/bench          # GPU, about 2 minutes on an H100
    python bench/baselines_speed.py --out /tmp/bench --tiny      # CPU smoke run of the same code
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from repro.baselines.knn import KnnRetriever, nearest_neighbours
from repro.baselines.lecf import LECF, ClassifierFilter, LECFConfig
from repro.classifiers import build_model
from repro.errors import ReproError
from repro.generators.mini_config import CIFAR10_CLASSES, IMAGENETTE_CLASSES, PACS_CLASSES
from repro.provenance import Provenance, write_rows


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mini_bundle(tiny: bool, device: torch.device):
    """The embedded mini generator, else its architecture with random weights (tiny: the test generator)."""
    from repro.generators import load_generator
    from repro.generators.bundle import GeneratorBundle
    from repro.generators.tiny import tiny_generator

    if tiny:
        return tiny_generator(resolution=32).to(device=device)
    try:
        return load_generator("mini", dtype="bf16", device=device)
    except ReproError:
        from repro.generators import mini_config as mc

        tokenizer = mc.build_tokenizer()
        bundle = GeneratorBundle(
            "mini-random",
            mc.build_vae(),
            mc.build_unet(),
            mc.build_text_encoder(tokenizer),
            tokenizer,
            mc.build_scheduler(),
            mc.RESOLUTION,
        )
        return bundle.to(device=device, dtype=torch.bfloat16).freeze()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for baselines_speed.csv")
    parser.add_argument("--tiny", action="store_true", help="small sizes and the tiny generator (CPU smoke run)")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    queries, pool_size, dim, k = (60, 500, 512, 50) if args.tiny else (3000, 52000, 512, 50)
    feature_images, lecf_images, steps, batch = (64, 8, 2, 8) if args.tiny else (52000, 2560, 50, 256)
    provenance = Provenance("bench_baselines_speed", "bench", config=vars(args))
    rows = []
    began = time.perf_counter()

    # KNN search on random features
    g = torch.Generator().manual_seed(0)
    q, p = torch.randn(queries, dim, generator=g).to(device), torch.randn(pool_size, dim, generator=g).to(device)
    nearest_neighbours(q[:16], p, k)  # warm-up
    sync(device)
    start = time.perf_counter()
    nearest_neighbours(q, p, k)
    sync(device)
    rows.append(
        provenance.row(
            seed=0,
            wall_seconds=time.perf_counter() - start,
            measure="knn_search_seconds",
            queries=queries,
            pool=pool_size,
            dim=dim,
            k=k,
        )
    )

    # pool features through a ResNet-18 (the pool-resnet18 stand-in, random weights)
    from repro.data import ImageSet

    pool_classes = sorted({*CIFAR10_CLASSES, *IMAGENETTE_CLASSES, *PACS_CLASSES})
    classifier = build_model("resnet18", len(pool_classes), 64).to(device).eval()
    images = np.random.default_rng(0).integers(0, 256, (feature_images, 64, 64, 3), dtype=np.uint8)
    labels = np.arange(feature_images) % len(pool_classes)
    pool = ImageSet(images, labels, pool_classes, [str(i) for i in range(feature_images)], "random-pool")
    sync(device)
    start = time.perf_counter()
    KnnRetriever(pool, classifier, name="pool-resnet18")
    sync(device)
    seconds = time.perf_counter() - start
    rows.append(
        provenance.row(
            seed=0, wall_seconds=seconds, measure="pool_features_images_per_second", value=feature_images / seconds
        )
    )

    # LECF attempts: generate + filter
    bundle = mini_bundle(args.tiny, device)
    classes = ["cat", "dog", "ship"] if args.tiny else list(IMAGENETTE_CLASSES)
    image_filter = ClassifierFilter(classifier, pool_classes, name="pool-resnet18")
    config = LECFConfig(
        steps=steps,
        batch=batch,
        guidance=(2.0,),
        save_resolution=bundle.resolution,
        precision="fp32" if bundle.dtype == torch.float32 else "bf16",
    )
    lecf = LECF(bundle, classes, image_filter, config, progress=False)
    lecf.select(0.0, 1)  # warm-up: one attempt per class
    per_class = lecf_images // len(classes)
    sync(device)
    start = time.perf_counter()
    kept = lecf.select(0.0, per_class + 1)
    sync(device)
    seconds = time.perf_counter() - start
    rows.append(
        provenance.row(
            seed=0,
            wall_seconds=seconds,
            measure="lecf_attempts_per_second",
            value=per_class * len(classes) / seconds,
            steps=steps,
            batch=batch,
            generator=bundle.name,
        )
    )
    write_rows(rows, Path(args.out) / "baselines_speed.csv")
    for row in rows:
        print(row["measure"], round(row.get("value", row["wall_seconds"]), 3))
    print(f"kept {len(kept)} images; total {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
