"""Does Diffusion Inversion work with a generator? Stage 1 on CIFAR-10 target images (the same number of each
class, the protocol's seeded subset: the unconditional embedding is the mean of the learned ones, so one class
alone would make guidance push away from that class), then how well the learned embeddings reproduce their
images and whether their variants are recognised as their class.

1. ``repro.inversion.invert`` learns one embedding per image (resumable in ``WORK/embeddings``), with the
   paper's settings unless ``--steps``, ``--lr``, ``--tokens`` or ``--init text`` (a start from the class
   prompt's encoding, not the paper's) say otherwise: the knobs of a sweep, one ``--out``/``--work`` per run.
2. Reconstruction: each final embedding sampled once without perturbation (noise and interpolation 0, DDIM,
   guidance ``--recon-guidance``), compared with its image at the dataset's 32 px: mean PSNR, beside the VAE
   round trip's PSNR (the ceiling: stage 1 can do no better than the autoencoder).
3. Variants: ``--variants`` samples per embedding with the paper's defaults (guidance drawn from {2, 3, 4},
   or ``--variant-guidance``; noise and interpolation 0.1), labelled by a judge classifier: the share assigned
   to the source's class.
   The default judge is the third-party CIFAR-10 ResNet-56 of the data folder (trained on real CIFAR-10, none
   of our images); ``--judge`` takes any classifier checkpoint of the suite, e.g. a pool-trained one.

    python bench/inversion_reconstruction.py --generator mini --images 100 --steps 1000 \
        --out results/bench/inversion_reconstruction

Writes ``OUT/inversion_reconstruction.csv`` (one row per measurement, with provenance) and a PNG grid of
originals, reconstructions and variants.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from repro.arguments import POSITIVE, RATE, listed, number
from repro.inversion import InversionConfig


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generator", default="mini")
    p.add_argument(
        "--images", type=POSITIVE, default=100, help="N images of the CIFAR-10 target split, N / 10 per class"
    )
    p.add_argument("--steps", type=POSITIVE, default=1000, help="stage-1 updates per embedding")
    p.add_argument("--lr", type=RATE, default=InversionConfig.lr, help="stage 1's AdamW learning rate")
    p.add_argument(
        "--tokens", type=POSITIVE, default=None, help="learned tokens per embedding (default: the whole context)"
    )
    p.add_argument(
        "--init",
        choices=("random", "text"),
        default="random",
        help="stage 1's start: the authors' random table, or the encoding of --init-prompt (not the paper's)",
    )
    p.add_argument("--init-prompt", default="a photo of a {}", help="with --init text; {} is the class name")
    p.add_argument("--resolution", type=POSITIVE, default=64)
    p.add_argument("--batch", type=POSITIVE, default=100)
    p.add_argument("--sample-steps", type=POSITIVE, default=50)
    p.add_argument("--recon-guidance", type=RATE, default=2.0)
    p.add_argument("--variants", type=POSITIVE, default=5)
    p.add_argument(
        "--variant-guidance",
        type=listed(number(at_least=0)),
        default=(2.0, 3.0, 4.0),
        help="comma list of the guidance strengths w the variants draw from, in the paper's convention "
        "(diffusers' guidance_scale is 1 + w; default the paper's 2,3,4)",
    )
    p.add_argument("--judge", default=None, help="classifier checkpoint (default: $REPRO_DATA's akamaster ResNet-56)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="results/bench/inversion_reconstruction", help="the CSV and the grid")
    p.add_argument(
        "--work",
        default="work/bench/inversion_reconstruction",
        help="embeddings and sampled sets (resumed by a rerun; not committed)",
    )
    return p.parse_args(argv)


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image PSNR (dB) of uint8 arrays [N, H, W, 3]."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(1)
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def main(argv=None) -> int:
    from torchvision.utils import save_image

    from repro.classifiers import load_classifier, predict
    from repro.experiments import training_set
    from repro.generators import load_generator
    from repro.inversion import invert, load_checkpoints
    from repro.provenance import Provenance, write_rows
    from repro.sampling import SamplingConfig, sample_dataset, vae_roundtrip

    args = parse(argv)
    device = (
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    dtype = "bf16" if device == "cuda" else "fp32"
    images = training_set("cifar10", max(1, args.images // 10), "mini")
    bundle = load_generator(args.generator, dtype=dtype, device=device, resolution=args.resolution)
    prov = Provenance(
        "inversion_reconstruction",
        "bench",
        vars(args),
        generator=bundle.label,
        dataset="cifar10",
    )
    rows = []

    start = time.perf_counter()
    config = InversionConfig(
        steps=args.steps,
        batch=args.batch,
        resolution=args.resolution,
        precision=dtype,
        lr=args.lr,
        tokens=args.tokens,
        init=args.init,
        init_prompt=args.init_prompt if args.init == "text" else "",
    )
    invert(
        bundle,
        images.images,
        images.labels,
        images.ids,
        images.classes,
        work / "embeddings",
        config,
        dataset="cifar10",
        split="target",
    )
    rows.append(
        prov.row(
            wall_seconds=time.perf_counter() - start,
            measure="stage 1",
            images=len(images),
            steps=args.steps,
            lr=args.lr,
            tokens=args.tokens or "all",
            init=args.init if args.init == "random" else f"text: {args.init_prompt}",
            value=None,
        )
    )
    tables = load_checkpoints([work / "embeddings"])

    ceiling = psnr(vae_roundtrip(bundle, images.images), images.images)
    rows.append(prov.row(measure="VAE round trip PSNR (ceiling)", value=float(ceiling.mean()), unit="dB"))

    exact = SamplingConfig(
        per_image=1,
        guidance=(args.recon_guidance,),
        noise=(0.0,),
        interpolate=(0.0,),
        steps=args.sample_steps,
        precision=dtype,
    )
    rec = sample_dataset(bundle, tables, work / "reconstructions", exact, progress=False).load()  # resumes
    order = np.argsort(rec.provenance["source_index"], kind="stable")
    recon_psnr = psnr(rec.images[order], images.images)
    rows.append(
        prov.row(
            measure="reconstruction PSNR",
            value=float(recon_psnr.mean()),
            unit="dB",
            guidance=args.recon_guidance,
            sample_steps=args.sample_steps,
        )
    )

    defaults = SamplingConfig(
        per_image=args.variants,
        guidance=args.variant_guidance,
        noise=(0.1,),
        interpolate=(0.1,),
        steps=args.sample_steps,
        precision=dtype,
    )
    variants = sample_dataset(bundle, tables, work / "variants", defaults, progress=False).load()
    judge_path = args.judge or Path(os.environ["REPRO_DATA"]) / "models" / "akamaster-cifar10-resnet56-4bfd9763.th"
    judge = load_classifier(judge_path).to(device).eval()
    judged = {
        "originals": (images.images, images.labels),
        "reconstructions": (rec.images, rec.labels),
        "variants": (variants.images, variants.labels),
    }
    for name, (pixels, labels) in judged.items():
        share = float((predict(judge, pixels, device=device).numpy() == np.asarray(labels)).mean() * 100)
        rows.append(
            prov.row(
                measure=f"{name} recognised as their class",
                value=share,
                variant_guidance=",".join(f"{g:g}" for g in args.variant_guidance) if name == "variants" else None,
                unit="%",
                judge=Path(judge_path).name,
                count=len(labels),
            )
        )
    write_rows(rows, out / "inversion_reconstruction.csv")

    first = [int(np.flatnonzero(images.labels == c)[0]) for c in np.unique(images.labels)]  # one image per class
    variant0 = variants.images[variants.provenance["variant"] == 0][
        np.argsort(variants.provenance["source_index"][variants.provenance["variant"] == 0], kind="stable")
    ]
    grid = [
        torch.from_numpy(x[first]).permute(0, 3, 1, 2).float() / 255
        for x in (images.images, rec.images[order], variant0)
    ]
    save_image(torch.cat(grid), out / "inversion_reconstruction.png", nrow=len(first))
    for row in rows:
        if row.get("value") is not None:
            print(f"{row['measure']}: {row['value']:.2f} {row.get('unit', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
