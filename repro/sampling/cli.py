"""``repro sample``: write a synthetic dataset from learned embeddings (Diffusion Inversion stage 2).

Example (appendix B.2.2: 45 variants per image from the 1K/2K/3K checkpoints, w in {2, 3, 4}):
    repro sample --embeddings work/emb --out work/syn --per-image 45 --checkpoints 1000,2000,3000 \\
        --guidance 2,3,4 --noise 0.1 --interpolation 0.1
The authors' sampler: --scheduler pndm --guidance 1 (their guidance_scale 2 is w = 1 here).
"""

from __future__ import annotations

import argparse

from ..arguments import NONNEGATIVE, POSITIVE, listed, number
from ..errors import ReproError
from ..inversion.cli import add_runtime_arguments, runtime


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--embeddings",
        required=True,
        type=lambda s: [p for p in s.split(",") if p],
        help="embeddings files or `repro invert` output folders, comma-separated",
    )
    parser.add_argument("--out", required=True, help="output folder of the synthetic dataset")
    parser.add_argument(
        "--generator", default=None, help="generator to sample with (default: the one the embeddings were learned with)"
    )
    parser.add_argument("--unet-weights", default=None, help="swap in a UNet state dict (safetensors)")
    p = parser.add_argument_group("method")
    p.add_argument("--per-image", type=POSITIVE, default=1, help="variants per embedding")
    p.add_argument(
        "--guidance",
        type=listed(number(at_least=0)),
        default=(2.0,),
        help="guidance strengths w, one drawn per sample (paper convention; default 2)",
    )
    p.add_argument(
        "--noise", type=listed(number(at_least=0)), default=(0.1,), help="Gaussian perturbation strengths lambda"
    )
    p.add_argument(
        "--interpolation",
        type=listed(number(at_least=0, at_most=1)),
        default=(0.1,),
        help="interpolation strengths alpha",
    )
    p.add_argument(
        "--checkpoints",
        type=listed(POSITIVE),
        default=None,
        help="checkpoint steps drawn per sample (default: the last one)",
    )
    p.add_argument("--scheduler", default="ddim", help="ddim (default), pndm, dpm++ or unipc")
    p.add_argument("--inference-steps", type=POSITIVE, default=100, help="denoising steps (default 100)")
    p.add_argument("--eta", type=number(at_least=0), default=0.0, help="DDIM eta (0: deterministic DDIM)")
    p.add_argument(
        "--uncond",
        choices=["mean", "empty"],
        default="mean",
        help="unconditional embedding u: mean of the learned ones (paper) or the empty prompt",
    )
    p.add_argument("--seed", type=NONNEGATIVE, default=0)
    p.add_argument("--limit", type=POSITIVE, default=None, help="only the first N embeddings")
    p.add_argument(
        "--resolution",
        type=POSITIVE,
        default=None,
        help="generation resolution; must equal the one the embeddings were learned at",
    )
    p.add_argument(
        "--save-resolution",
        type=POSITIVE,
        default=None,
        help="resolution of the written images (default: the dataset's own)",
    )
    p.add_argument("--shard-size", type=POSITIVE, default=5000, help="images per output shard")
    p.add_argument("--batch", type=POSITIVE, default=256, help="samples per UNet call (x2 with the unconditional)")
    p.add_argument("--decode-batch", type=POSITIVE, default=64, help="latents per VAE decoder call")
    add_runtime_arguments(parser)


def run(args) -> int:
    from ..files import output_folder, write_arguments
    from ..generators import load_generator
    from ..inversion.store import load_checkpoints
    from ..provenance import phase
    from .config import SamplingConfig
    from .run import sample_dataset

    output_folder(args.out)
    device, dtype = runtime(args)
    config = SamplingConfig(
        per_image=args.per_image,
        guidance=args.guidance,
        noise=args.noise,
        interpolate=args.interpolation,
        checkpoints=args.checkpoints,
        scheduler=args.scheduler,
        steps=args.inference_steps,
        eta=args.eta,
        uncond=args.uncond,
        seed=args.seed,
        limit=args.limit,
        resolution=args.resolution,
        save_resolution=args.save_resolution,
        shard_size=args.shard_size,
        batch=args.batch,
        decode_batch=args.decode_batch,
        precision=dtype,
        compile=args.compile,
        channels_last=args.channels_last,
    )
    with phase("embeddings"):
        tables = load_checkpoints(args.embeddings)
    first = next(iter(tables.values()))
    if args.limit is not None and args.limit > len(first):
        raise ReproError(
            f"--limit {args.limit} asks for more than the {len(first)} embeddings given; give "
            f"--limit {len(first)} or fewer"
        )
    generator = args.generator or first.meta["generator"]
    with phase("generator"):
        bundle = load_generator(generator, dtype=dtype, device=device, unet_weights=args.unet_weights)
    with phase("sampling"):  # compilation, the denoising loop, decoding and writing the shards
        dataset = sample_dataset(bundle, tables, args.out, config, shard=args.shard, progress=not args.quiet)
    if dataset is None:
        print(f"shard {args.shard[0]}/{args.shard[1]} done; other shards of {args.out} are still missing")
    else:
        write_arguments(args.out, args, weights=bundle.fingerprint)
        print(f"{args.out}: {len(dataset)} images at {dataset.resolution} px")
    return 0
