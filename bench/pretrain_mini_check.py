"""GPU check of mini-model pretraining before the real run: both training steps compile and run on random
data, and their speed predicts how many steps the time budgets buy.

Runs the real stages (the mini architecture, the scale's batch sizes, torch.compile, bf16) for a few dozen
steps each, the text encoder's fixing included, and writes the timings as JSON.

    python3 bench/pretrain_mini_check.py --out results/bench/pretrain_mini_check.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from repro.generators import mini_config
from repro.pretrain.autoencoder import AutoencoderStage
from repro.pretrain.diffusion import DiffusionStage
from repro.pretrain.loop import synchronize
from repro.pretrain.settings import scale_settings
from repro.provenance import device_name


def time_steps(stage, steps: int, total: int) -> dict:
    """Seconds of the first step (compilation) and per step over the second half."""
    synchronize(stage.device)
    start = time.perf_counter()
    stage.train_step(0, total)
    synchronize(stage.device)
    first = time.perf_counter() - start
    half = steps // 2
    for step in range(1, steps):
        if step == half:
            synchronize(stage.device)
            start = time.perf_counter()
        loss = stage.train_step(step, total)["loss"]
    synchronize(stage.device)
    per_step = (time.perf_counter() - start) / (steps - half)
    return {"first_step_seconds": round(first, 2), "step_seconds": round(per_step, 5), "loss": float(loss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    scale = scale_settings("mini", compile=not args.no_compile)
    rng = np.random.default_rng(0)
    report = {"device": device_name(), "compile": scale.compile, "steps": args.steps}

    images = rng.integers(0, 256, (args.images, 64, 64, 3), dtype=np.uint8)
    vae = AutoencoderStage(mini_config.build_vae(), images, scale.autoencoder, 0, device, compile=scale.compile)
    report["autoencoder"] = {"batch_size": scale.autoencoder.batch_size,
                             **time_steps(vae, args.steps, total=10 * args.steps)}
    del vae

    classes = sorted({*mini_config.CIFAR10_CLASSES, *mini_config.IMAGENETTE_CLASSES, *mini_config.PACS_CLASSES})
    captions = [f"a photo of a {classes[i]}" for i in rng.integers(0, len(classes), args.images)]
    tokenizer = mini_config.build_tokenizer(captions)
    latents = torch.randn(2, args.images, 4, 16, 16)
    # total = 4 x steps: the text encoder trains for the first tenth of that (before the timed half), so both
    # graphs, with and without it, are compiled
    unet = DiffusionStage(mini_config.build_unet(), mini_config.build_text_encoder(tokenizer), tokenizer,
                          mini_config.build_scheduler(), latents, captions, scale.diffusion, 0, device,
                          folder=Path("/tmp/pretrain_mini_check"), compile=scale.compile)
    report["diffusion"] = {"batch_size": scale.diffusion.batch_size,
                           **time_steps(unet, args.steps, total=4 * args.steps)}
    if device.type == "cuda":
        report["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    for stage, settings in (("autoencoder", scale.autoencoder), ("diffusion", scale.diffusion)):
        report[stage]["steps_in_budget"] = int(settings.budget_minutes * 60 / report[stage]["step_seconds"])
        report[stage]["budget_minutes"] = settings.budget_minutes
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
