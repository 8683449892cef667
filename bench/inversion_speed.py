"""Speed of Diffusion Inversion stage 1 on an SD-v1.4-shaped generator (random weights, SD's exact compute) or
on the embedded mini model.

Times our fast path (bf16 autocast, channels_last, many images per UNet call, cached VAE posterior; compile
on and off) beside the authors' setting (fp32, 50 images per call, 5 tokens, VAE re-encoding every step), at
128 and 256 px (SD) or 64 px (mini). A few steps are timed after warm-up and projected to 3000 steps per
embedding; FLOPs per image-step come from torch.utils.flop_counter, so achieved TFLOP/s and the share of the
bf16 matrix-product rate measured on the same GPU follow. Paper (A40): 18.8 s and 84.1 s per embedding at 128
and 256 px.

    python bench/inversion_speed.py --out results/bench                    # GPU, SD-shaped, about 4-5 minutes
    python bench/inversion_speed.py --out results/bench --generator mini   # GPU, the mini model, about 2 minutes
    python bench/inversion_speed.py --out /tmp/bench --tiny                # CPU smoke run of the same code
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from repro.arguments import NONNEGATIVE, POSITIVE
from repro.experiments.timing import counted_flops, inversion_trainer, matmul_tflops, reset_memory, time_inversion
from repro.inversion import InversionConfig
from repro.provenance import Provenance, RowsFile

PAPER_SECONDS_PER_EMBEDDING = {128: 18.8, 256: 84.1}  # A40, 3000 steps (appendix C.1)
STEPS_PER_EMBEDDING = 3000


@dataclass
class Case:
    path: str  # "ours" or "authors"
    resolution: int
    batch: int
    config: InversionConfig

    @property
    def label(self) -> str:
        c = self.config
        return (
            f"{self.path} {self.resolution}px B={self.batch} {c.precision} tokens={c.tokens} "
            f"reencode={c.reencode_every_step} compile={c.compile}"
        )


def flops_per_image_step(bundle, case: Case) -> float:
    """FLOPs of one training step (VAE encode when re-encoding, UNet forward and backward) per image."""
    small = replace(case, batch=2, config=replace(case.config, compile=False))
    trainer = inversion_trainer(bundle, small.config, small.batch)
    return counted_flops(trainer.step) / small.batch


def time_case(bundle, case: Case, warmup: int, timed: int) -> dict:
    """Seconds per step after warm-up (compilation, if any, happens in the warm-up and is reported)."""
    timing = time_inversion(bundle, case.config, case.batch, timed, warmup=warmup)
    return {
        "sec_per_step": timing["sec_per_step"],
        "warmup_seconds": timing["warmup_seconds"],
        "peak_mem_gib": timing["peak_mem_gib"],
    }


def cases(
    resolutions, batches: dict[int, list[int]], compile_batch: dict[int, int], tokens: int, authors_batch: int
) -> list[Case]:
    ours = InversionConfig(steps=STEPS_PER_EMBEDDING, tokens=tokens, precision="bf16")
    authors = InversionConfig(
        steps=STEPS_PER_EMBEDDING,
        tokens=5,
        batch=authors_batch,
        precision="fp32",
        reencode_every_step=True,
        channels_last=False,
    )
    out = []
    for r in resolutions:
        out.append(Case("authors", r, authors_batch, replace(authors, resolution=r)))
        out += [Case("ours", r, b, replace(ours, resolution=r, batch=b)) for b in batches[r]]
    out += [
        Case("ours", r, compile_batch[r], replace(ours, resolution=r, batch=compile_batch[r], compile=True))
        for r in resolutions
        if compile_batch.get(r)
    ]
    return out


def build_generator(tiny: bool, device, generator: str = "sd14"):
    if tiny:
        from repro.generators.tiny import tiny_generator

        return tiny_generator(resolution=32).to(device=device)
    if generator == "mini":
        from repro.generators import load_generator

        return load_generator("mini", device=device)
    from repro.generators.sd_shapes import sd_shaped_generator

    return sd_shaped_generator(generator, device=device)


#: (resolutions, eager batches, compiled batch, the authors' batch) per generator
CASES = {
    "tiny": ((16, 32), {16: [4, 8], 32: [4]}, {}, 2),
    "sd14": ((128, 256), {128: [128, 256, 512], 256: [64, 128, 256]}, {128: 256, 256: 128}, 50),
    "mini": ((64,), {64: [1024, 4096]}, {64: 2048}, 50),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for inversion_speed.csv")
    parser.add_argument("--tiny", action="store_true", help="tiny random generator (CPU smoke run)")
    parser.add_argument("--warmup", type=NONNEGATIVE, default=3)
    parser.add_argument("--timed", type=POSITIVE, default=20)
    parser.add_argument("--tokens", type=POSITIVE, default=77, help="tokens per embedding on our path")
    parser.add_argument(
        "--generator",
        default="sd14",
        choices=("sd14", "sd21", "mini"),
        help="an SD-shaped generator with random weights, or the committed mini model",
    )
    parser.add_argument(
        "--budget-seconds",
        type=float,
        default=330.0,
        help="skip remaining cases (compiled ones last) once this much time has passed",
    )
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolutions, batches, compile_batch, authors_batch = CASES[
        "tiny" if args.tiny else "mini" if args.generator == "mini" else "sd14"
    ]
    if args.tiny:
        args.tokens = min(args.tokens, 8)
    began = time.perf_counter()
    bundle = build_generator(args.tiny, device, args.generator)
    peak = matmul_tflops(device)
    provenance = Provenance(
        "bench_inversion_speed", "bench", config=vars(args), generator=bundle.name, dataset="random pixels"
    )
    flops: dict[tuple, float] = {}
    path = Path(args.out) / (
        "inversion_speed_mini.csv" if args.generator == "mini" and not args.tiny else "inversion_speed.csv"
    )
    results = RowsFile(path)
    for case in cases(resolutions, batches, compile_batch, args.tokens, authors_batch):
        dtype = torch.float32 if case.config.precision == "fp32" else torch.bfloat16
        if bundle.dtype != dtype:
            bundle.to(dtype=dtype)
        if not case.config.channels_last:
            bundle.unet.to(memory_format=torch.contiguous_format)
        row = {
            "path": case.path,
            "resolution": case.resolution,
            "batch": case.batch,
            "tokens": case.config.tokens,
            "precision": case.config.precision,
            "reencode_every_step": case.config.reencode_every_step,
            "channels_last": case.config.channels_last and device.type == "cuda",
            "compile": case.config.compile,
            "timed_steps": args.timed,
            "paper_a40_sec_per_embedding": PAPER_SECONDS_PER_EMBEDDING.get(case.resolution),
        }
        if time.perf_counter() - began > args.budget_seconds:
            results.add(provenance.row(**row, status="skipped: time budget"))
            continue
        key = (case.resolution, case.config.tokens, case.config.reencode_every_step, case.config.precision)
        try:
            if key not in flops:
                flops[key] = flops_per_image_step(bundle, case)
            with_time = time_case(bundle, case, args.warmup if not case.config.compile else args.warmup + 2, args.timed)
        except torch.OutOfMemoryError:
            results.add(provenance.row(**row, status="out of memory"))
            print(f"{case.label}: out of memory", flush=True)
            reset_memory(device)
            continue
        step = with_time["sec_per_step"]
        tflops = flops[key] * case.batch / step / 1e12
        row.update(
            status="ok",
            **with_time,
            gflop_per_image_step=flops[key] / 1e9,
            image_steps_per_second=case.batch / step,
            sec_per_embedding=step * STEPS_PER_EMBEDDING / case.batch,
            achieved_tflops=tflops,
            peak_tflops=round(peak, 1),
            share_of_peak=tflops / peak if device.type == "cuda" else None,
        )
        results.add(provenance.row(wall_seconds=with_time["warmup_seconds"] + step * args.timed, **row))
        print(
            f"{case.label}: {step:.4f} s/step, {case.batch / step:,.0f} image-steps/s, "
            f"{row['sec_per_embedding']:.3f} s/embedding "
            f"({tflops:.1f} TFLOP/s, peak mem {with_time['peak_mem_gib']})",
            flush=True,
        )
    print(f"wrote {path} in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
