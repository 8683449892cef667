"""``repro invert``: learn one embedding per image of a dataset split (Diffusion Inversion stage 1).

Example (the paper's setting for CIFAR-10 on SD v1.4):
    repro invert --generator sd14 --dataset cifar10 --split train --resolution 128 --out work/emb
The authors' code instead: add --tokens 5 --batch 50 --reencode-every-step --dtype fp32.
"""

from __future__ import annotations

import argparse


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not of the form i/n (e.g. 0/4)") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"{text}: need 0 <= i < n")
    return i, n


def parse_list(text: str, kind=float) -> tuple:
    try:
        return tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of {kind.__name__} values") from None


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how fast the model runs (shared by `repro invert` and `repro sample`)."""
    g = parser.add_argument_group("runtime")
    g.add_argument("--device", default="auto", help="cuda, cpu or auto (cuda when available)")
    g.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="model weights and autocast precision; auto: bf16 on GPU, fp32 on CPU")
    g.add_argument("--compile", action="store_true", help="torch.compile the UNet (pays off on long GPU runs)")
    g.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="keep NCHW tensors on the GPU (channels_last is the default there)")
    g.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="I/N",
                   help="do part I of N (separate GPUs or cluster jobs); all parts write to one --out")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def runtime(args) -> tuple[str, str]:
    """(device, dtype name) from --device/--dtype."""
    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = args.dtype if args.dtype != "auto" else ("bf16" if device.startswith("cuda") else "fp32")
    return device, dtype


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--generator", default="mini", help="mini, sd14, sd21, a hub id or a diffusers folder")
    parser.add_argument("--unet-weights", default=None, help="swap in a UNet state dict (safetensors)")
    parser.add_argument("--dataset", required=True, help="dataset name for repro.data.load_split, e.g. cifar10")
    parser.add_argument("--split", default="target", help="split of the dataset (default: target)")
    parser.add_argument("--data-root", default=None, help="offline data folder (default: $REPRO_DATA)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of the split")
    parser.add_argument("--per-class", type=int, default=None,
                        help="only N images of each class, the seeded subset the experiments train on "
                             "(repro.experiments.protocol.training_set)")
    parser.add_argument("--subset-seed", type=int, default=0, help="seed of the --per-class subset")
    parser.add_argument("--out", required=True, help="output folder (checkpoint files, run.json, resume state)")
    p = parser.add_argument_group("method")
    p.add_argument("--inversion-steps", type=int, default=3000, help="updates per embedding (default 3000)")
    p.add_argument("--checkpoints", type=lambda s: parse_list(s, int), default=None,
                   help="steps at which embeddings are saved (default: every 1000 steps and the last)")
    p.add_argument("--tokens", type=int, default=None,
                   help="tokens per embedding (default: the generator's context, 77 for SD; the authors use 5)")
    p.add_argument("--resolution", type=int, default=None,
                   help="target resolution in px (default: the generator's; the paper uses 128/256 for SD)")
    p.add_argument("--batch", type=int, default=256, help="images trained together per UNet call")
    p.add_argument("--inversion-lr", type=float, default=0.03, help="AdamW learning rate, constant (default 0.03)")
    p.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (authors: 0.01)")
    p.add_argument("--init", choices=["random", "text"], default="random",
                   help="random: U(-s, s) as the authors' embedding table; text: encoding of --init-prompt")
    p.add_argument("--init-scale", type=float, default=0.1, help="s of the random init (authors: 0.1)")
    p.add_argument("--init-prompt", default="", help="prompt for --init text; {} becomes the class name")
    p.add_argument("--latents", choices=["sample", "mean"], default="sample",
                   help="z0 per step: a draw from the cached VAE posterior (default) or its mean")
    p.add_argument("--reencode-every-step", action="store_true",
                   help="run the VAE encoder at every step (the authors' code path; same distribution, slower)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--state-every", type=int, default=0, help="also save resume state every N steps")
    p.add_argument("--stop-after-steps", type=int, default=None,
                   help="stop (resumably) after this many UNet steps: a time slice for cluster jobs")
    add_runtime_arguments(parser)


def run(args) -> int:
    from ..data import load_split
    from ..generators import load_generator
    from ..provenance import write_arguments
    from .config import InversionConfig
    from .run import invert

    device, dtype = runtime(args)
    config = InversionConfig(
        steps=args.inversion_steps, checkpoints=args.checkpoints, tokens=args.tokens, batch=args.batch,
        lr=args.inversion_lr, weight_decay=args.weight_decay, resolution=args.resolution, init=args.init,
        init_scale=args.init_scale, init_prompt=args.init_prompt, latents=args.latents,
        reencode_every_step=args.reencode_every_step,
        seed=args.seed, precision=dtype, compile=args.compile, channels_last=args.channels_last,
        state_every=args.state_every,
    )
    images = load_split(args.dataset, args.split, root=args.data_root)
    if args.per_class is not None:
        images = images.per_class(args.per_class, seed=args.subset_seed)
    if args.limit is not None:
        images = images.subset(list(range(min(args.limit, len(images)))))
    bundle = load_generator(args.generator, dtype=dtype, device=device, resolution=args.resolution,
                            unet_weights=args.unet_weights)
    files = invert(bundle, images.images, images.labels, images.ids, images.classes, args.out, config,
                   dataset=args.dataset, split=args.split, shard=args.shard,
                   stop_after_steps=args.stop_after_steps, progress=not args.quiet)
    if files is None:
        print(f"stopped after {args.stop_after_steps} steps; rerun the same command to continue")
    else:
        write_arguments(args.out, args, weights=bundle.fingerprint)
        print("\n".join(str(f) for f in files))
    return 0
