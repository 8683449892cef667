"""Training throughput of the mini model's two pretraining stages (the code `repro pretrain` runs).

Times ``DiffusionStage.train_step`` (UNet and, after its share, a fixed text encoder) and
``AutoencoderStage.train_step`` on random GPU-resident data of the pool's shapes, at several batch sizes,
after warm-up steps that include compilation. FLOPs per image come from torch's flop counter on an eager
step, so the CSV gives achieved TFLOP/s and their share of the bf16 matrix-product rate measured on the same
GPU. ``--attention`` and ``--memory-formats`` time the UNet step with each SDPA backend and memory layout
(the speed settings of ``repro pretrain``), ``--heads`` with other numbers of attention heads than the shipped
architecture's (same weights' shapes and FLOPs). ``--profile`` adds the top GPU kernels of the UNet step (what
bounds it) as a text file.

    python bench/pretrain_speed.py --out results/bench                 # GPU, about 3 minutes on an H100
    python bench/pretrain_speed.py --out /tmp/bench --tiny              # CPU smoke run of the same code
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from repro.arguments import NONNEGATIVE, POSITIVE
from repro.experiments.timing import (
    counted_flops,
    kernel_table,
    matmul_tflops,
    peak_memory_gib,
    reset_memory,
    synced,
)
from repro.generators import mini_config
from repro.pretrain.autoencoder import AutoencoderStage
from repro.pretrain.diffusion import DiffusionStage
from repro.pretrain.settings import ATTENTION_BACKENDS, MEMORY_FORMATS, PretrainScale, scale_settings
from repro.provenance import Provenance, RowsFile

#: the memory layout both stages train in unless a UNet case asks for another (the autoencoder's only one): the
#: one `repro pretrain` trains in by default
LAYOUT = PretrainScale.memory_format
#: the step the timing starts from, of a run of TOTAL steps: past the text encoder's share (10 %), as 90 % of
#: a real run's steps are
FIRST_STEP, TOTAL = 200, 1000
#: the shipped UNet's attention heads per level (diffusers calls the number attention_head_dim)
SHIPPED_HEADS = mini_config.UNET_CONFIG["attention_head_dim"]


def diffusion_stage(
    settings,
    images: int,
    compile: str | None,
    device,
    attention: str | None = None,
    memory_format: str = LAYOUT,
    heads: int = SHIPPED_HEADS,
    seed: int = 0,
) -> DiffusionStage:
    rng = np.random.default_rng(seed)
    classes = sorted({*mini_config.CIFAR10_CLASSES, *mini_config.IMAGENETTE_CLASSES, *mini_config.PACS_CLASSES})
    captions = [f"a photo of a {classes[i]}" for i in rng.integers(0, len(classes), images)]
    tokenizer = mini_config.build_tokenizer(captions)
    latents = torch.randn(2, images, 4, mini_config.LATENT_SIZE, mini_config.LATENT_SIZE)
    torch.manual_seed(seed)
    return DiffusionStage(
        mini_config.build_unet(attention_head_dim=heads),
        mini_config.build_text_encoder(tokenizer),
        tokenizer,
        mini_config.build_scheduler(),
        latents,
        captions,
        settings,
        seed,
        device,
        folder=Path("/tmp/pretrain_speed"),
        compile=compile,
        attention=attention,
        memory_format=memory_format,
    )


def autoencoder_stage(settings, images: int, compile: str | None, device, seed: int = 0) -> AutoencoderStage:
    pixels = np.random.default_rng(seed).integers(
        0, 256, (images, mini_config.RESOLUTION, mini_config.RESOLUTION, 3), dtype=np.uint8
    )
    torch.manual_seed(seed)
    return AutoencoderStage(mini_config.build_vae(), pixels, settings, seed, device, compile=compile)


def time_steps(stage, warmup: int, steps: int) -> dict:
    """Seconds of the warm-up (compilation included) and per step after it."""
    device = stage.device
    with synced(device) as warm:
        for step in range(FIRST_STEP, FIRST_STEP + warmup):
            stage.train_step(step, TOTAL)
    with synced(device) as timed:
        for step in range(FIRST_STEP + warmup, FIRST_STEP + warmup + steps):
            loss = stage.train_step(step, TOTAL)["loss"]
    if not torch.isfinite(loss):
        raise RuntimeError(f"{stage.name}: non-finite loss while timing")
    return {"warmup_seconds": round(warm(), 2), "step_seconds": timed() / steps}


def profile(stage, steps: int, path: Path) -> None:
    """The GPU kernels of ``steps`` training steps by total time, as a table."""

    def run() -> None:
        for step in range(steps):
            stage.train_step(FIRST_STEP + step, TOTAL)

    path.write_text(kernel_table(run, "cuda"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for pretrain_speed.csv")
    parser.add_argument("--tiny", action="store_true", help="small batches on the CPU (a smoke run of the code)")
    parser.add_argument("--unet-batches", default="1024,2048,4096")
    parser.add_argument("--vae-batches", default="256,512", help="empty: skip the autoencoder")
    parser.add_argument("--compile", default="default", help="torch.compile mode, or none")
    parser.add_argument("--warmup", type=NONNEGATIVE, default=5)
    parser.add_argument("--steps", type=POSITIVE, default=20)
    parser.add_argument("--profile", action="store_true", help="write the UNet step's top kernels")
    parser.add_argument(
        "--attention",
        default="default",
        help="UNet: comma list of SDPA backends to time, each at every batch: default (torch's choice), "
        + ", ".join(ATTENTION_BACKENDS),
    )
    parser.add_argument(
        "--memory-formats",
        default=LAYOUT,
        help="UNet: comma list of memory layouts to time, each with every backend and batch: "
        + ", ".join(MEMORY_FORMATS),
    )
    parser.add_argument(
        "--heads",
        default=str(SHIPPED_HEADS),
        help="UNet: comma list of attention head counts per level to time, each with every other setting "
        f"(the shipped architecture has {SHIPPED_HEADS}; a count must divide every level's width)",
    )
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    compile = None if args.compile == "none" or device.type == "cpu" else args.compile
    unet_batches = [4, 8] if args.tiny else [int(b) for b in args.unet_batches.split(",") if b]
    vae_batches = [4] if args.tiny else [int(b) for b in args.vae_batches.split(",") if b]
    warmup, steps = (1, 2) if args.tiny else (args.warmup, args.steps)
    attentions = [None if a == "default" else a for a in args.attention.split(",") if a]
    unknown = {a for a in attentions if a is not None and a not in ATTENTION_BACKENDS}
    if unknown or not attentions:
        parser.error(f"--attention: {', '.join(sorted(unknown)) or 'empty'}; give default or {ATTENTION_BACKENDS}")
    formats = [f for f in args.memory_formats.split(",") if f]
    if not formats or not set(formats) <= set(MEMORY_FORMATS):
        parser.error(f"--memory-formats: {args.memory_formats!r}; give a comma list of {', '.join(MEMORY_FORMATS)}")
    try:
        heads = [int(h) for h in args.heads.split(",") if h]
    except ValueError:
        heads = []
    widths = mini_config.UNET_CONFIG["block_out_channels"]
    if not heads or any(h < 1 or any(w % h for w in widths) for h in heads):
        parser.error(
            f"--heads: {args.heads!r}; give a comma list of head counts that divide each of the widths {widths}"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scale = scale_settings("mini")
    peak = matmul_tflops(device)
    prov = Provenance("pretrain_speed", "bench", vars(args), generator="mini architecture", dataset="random")
    print(f"device {prov.device}: bf16 matrix products at {peak:.0f} TFLOP/s", flush=True)

    stages = {
        "unet": (
            diffusion_stage,
            scale.diffusion,
            [
                ({"attention": a, "memory_format": f, "heads": h}, b)
                for h in heads
                for f in formats
                for a in attentions
                for b in unet_batches
            ],
        ),
        "autoencoder": (autoencoder_stage, scale.autoencoder, [({}, b) for b in vae_batches]),
    }
    results = RowsFile(out / "pretrain_speed.csv")
    for name, (build, settings, cases) in stages.items():
        if not cases:
            continue
        # FLOPs of one eager step of 2 images: the count scales with the batch
        probe = build(replace(settings, batch_size=2), 8, None, device)
        flops = counted_flops(partial(probe.train_step, FIRST_STEP, TOTAL)) / 2
        del probe
        for speed, batch in cases:
            attention, memory_format = speed.get("attention"), speed.get("memory_format", LAYOUT)
            heads_here = speed.get("heads", "")
            reset_memory(device)
            # each case compiles its own step: torch.compile's caches do not key on the attention backend, so a
            # second backend would otherwise replay the first one's compiled kernels (a pinned backend also turns
            # the on-disk caches off: DiffusionStage)
            torch._dynamo.reset()
            stage = build(replace(settings, batch_size=batch), max(4 * batch, 8), compile, device, **speed)
            timing = time_steps(stage, warmup, steps)
            rate = batch / timing["step_seconds"]
            results.add(
                prov.row(
                    stage=name,
                    batch=batch,
                    compile=compile or "eager",
                    attention=attention or "default",
                    memory_format=memory_format,
                    heads=heads_here,
                    images_per_second=round(rate),
                    step_seconds=round(timing["step_seconds"], 5),
                    flops_per_image=flops,
                    tflops=round(rate * flops / 1e12, 2),
                    peak_tflops=round(peak, 1),
                    share_of_peak=round(rate * flops / 1e12 / peak, 4),
                    warmup_seconds=timing["warmup_seconds"],
                    peak_mem_gib=peak_memory_gib(device),
                    timed_steps=steps,
                )
            )
            print(
                f"{name} batch {batch}, attention {attention or 'default'}, {memory_format}"
                + (f", heads {heads_here}" if heads_here else "")
                + f": {rate:,.0f} images/s, "
                f"{rate * flops / 1e12:.1f} TFLOP/s "
                f"({rate * flops / 1e12 / peak:.1%} of {peak:.0f}); warm-up {timing['warmup_seconds']} s",
                flush=True,
            )
            if args.profile and name == "unet" and (speed, batch) == cases[-1] and device.type == "cuda":
                profile(stage, 5, out / "pretrain_speed_profile.txt")
            del stage
    return 0


if __name__ == "__main__":
    sys.exit(main())
