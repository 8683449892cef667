"""Speed of Diffusion Inversion stage 2 on an SD-v1.4-shaped generator (random weights, SD's exact compute) or
on the embedded mini model.

Seconds per image for DDIM at 100 steps with classifier-free guidance (conditional and unconditional in one
UNet call, bf16, channels_last, compiled with ``--compile``) and for DPM-Solver++ at 20 steps, at 128 and 256
px (SD) or 64 px (mini), through the same ``Sampler`` the experiments use: one full batch after a short
warm-up run, conditioning, decoding and resizing included. UNet evaluations per second count both rows of
every guided step. Paper (A40, 100 steps): 0.20 s and 0.82 s per image at 128 and 256 px.

    python bench/sampling_speed.py --out results/bench                              # GPU, SD-shaped
    python bench/sampling_speed.py --out results/bench --generator mini --compile   # GPU, the mini model
    python bench/sampling_speed.py --out /tmp/bench --tiny                          # CPU smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from inversion_speed import build_generator

from repro.arguments import POSITIVE
from repro.errors import ReproError
from repro.experiments.timing import counted_flops, matmul_tflops, random_table, reset_memory, time_sampling
from repro.provenance import Provenance, RowsFile
from repro.sampling import Sampler, SamplingConfig, make_plan

PAPER_SECONDS_PER_IMAGE = {128: 0.20, 256: 0.82}  # A40, 100 steps (appendix C.1)
SAVE_RESOLUTION = {128: 32, 256: 96, 64: 32, 16: 8, 32: 16}  # CIFAR and STL-10 sizes (tiny: smoke sizes)


def flops_per_image(sampler: Sampler, plan, steps: int) -> float:
    """UNet FLOPs of ``steps`` guided steps plus one decode, per image (counted on 2 images, one step)."""
    # eager: compiling under the flop counter's module hooks would specialise the compiled UNet to them
    probe = Sampler(
        sampler.bundle, sampler.tables, SamplingConfig(**{**sampler.config.as_dict(), "steps": 1, "compile": False})
    )
    latent = sampler.bundle.latent_size(sampler.resolution)
    latents = torch.zeros(2, sampler.bundle.latent_channels, latent, latent, device=sampler.device)
    with torch.no_grad():
        total_one_step = counted_flops(lambda: probe.generate(plan, np.arange(2)))
        decode = counted_flops(lambda: probe.decode(latents))
    return ((total_one_step - decode) * steps + decode) / 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for sampling_speed.csv")
    parser.add_argument("--tiny", action="store_true", help="tiny random generator (CPU smoke run)")
    parser.add_argument("--batch", type=POSITIVE, default=256, help="images per batch (x2 UNet rows with guidance)")
    parser.add_argument("--tokens", type=POSITIVE, default=77)
    parser.add_argument(
        "--generator",
        default="sd14",
        choices=("sd14", "sd21", "mini"),
        help="an SD-shaped generator with random weights, or the committed mini model",
    )
    parser.add_argument("--compile", action="store_true", help="compile the UNet (torch.compile)")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolutions = (16, 32) if args.tiny else (64,) if args.generator == "mini" else (128, 256)
    if args.tiny:
        args.batch, args.tokens = min(args.batch, 4), min(args.tokens, 8)
    began = time.perf_counter()
    bundle = build_generator(args.tiny, device, args.generator)
    bundle.to(dtype=torch.bfloat16)
    peak = matmul_tflops(device)
    provenance = Provenance(
        "bench_sampling_speed", "bench", config=vars(args), generator=bundle.name, dataset="random embeddings"
    )
    path = Path(args.out) / (
        "sampling_speed_mini.csv" if args.generator == "mini" and not args.tiny else "sampling_speed.csv"
    )
    results = RowsFile(path)
    for resolution in resolutions:
        table = random_table(bundle, args.batch, resolution, args.tokens, source_resolution=SAVE_RESOLUTION[resolution])
        for scheduler, steps in (("ddim", 100), ("dpm++", 20)):
            config = SamplingConfig(
                scheduler=scheduler,
                steps=steps,
                guidance=(2.0,),
                noise=(0.1,),
                interpolate=(0.1,),
                batch=args.batch,
                precision="bf16",
                compile=args.compile,
                decode_batch=args.batch,
            )
            plan = make_plan(table.labels.numpy(), table.index.numpy(), (3000,), config)
            row = {
                "resolution": resolution,
                "save_resolution": SAVE_RESOLUTION[resolution],
                "scheduler": scheduler,
                "steps": steps,
                "batch": args.batch,
                "tokens": args.tokens,
                "precision": "bf16",
                "compile": args.compile,
                "guidance": "cfg, one call",
                "paper_a40_sec_per_image_100_steps": PAPER_SECONDS_PER_IMAGE.get(resolution),
            }
            reset_memory(device)
            try:
                sampler = Sampler(bundle, {3000: table}, config)
                gflop = flops_per_image(sampler, plan, steps) / 1e9
                # after a 2-step warm-up run (kernel selection, allocator)
                timing = time_sampling(
                    bundle,
                    config,
                    args.batch,
                    resolution,
                    warmup_steps=2,
                    tokens=args.tokens,
                    source_resolution=SAVE_RESOLUTION[resolution],
                )
                seconds = timing["generate_seconds"]
            except torch.OutOfMemoryError:
                results.add(provenance.row(**row, status="out of memory"))
                continue
            except ReproError as err:
                results.add(provenance.row(**row, status=f"error: {err}"))
                continue
            tflops = gflop * args.batch / seconds / 1e3
            denoise = seconds - timing["decode_seconds"]
            row.update(
                status="ok",
                sec_per_image=seconds / args.batch,
                sec_per_batch=seconds,
                unet_evaluations_per_second=2 * args.batch * steps / seconds,
                unet_evaluations_per_second_denoising=2 * args.batch * steps / denoise,
                gflop_per_image=gflop,
                achieved_tflops=tflops,
                peak_mem_gib=timing["peak_mem_gib"],
                peak_tflops=round(peak, 1),
                share_of_peak=tflops / peak if device.type == "cuda" else None,
            )
            results.add(provenance.row(wall_seconds=seconds, **row))
            print(
                f"{scheduler} {steps} steps {resolution}px B={args.batch}: {row['sec_per_image']:.4f} s/image, "
                f"{row['unet_evaluations_per_second']:,.0f} UNet evaluations/s "
                f"({tflops:.1f} TFLOP/s, peak mem {row['peak_mem_gib']})",
                flush=True,
            )
    print(f"wrote {path} in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
