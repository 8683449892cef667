"""``repro invert``: learn one embedding per image of a dataset split (Diffusion Inversion stage 1).

Example (the paper's setting for CIFAR-10 on SD v1.4):
    repro invert --generator sd14 --dataset cifar10 --split train --resolution 128 --out work/emb
The authors' code instead: add --tokens 5 --batch 50 --reencode-every-step --dtype fp32.
"""

from __future__ import annotations

import argparse
import sys

from ..arguments import NONNEGATIVE, POSITIVE, RATE, device, listed, number


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not of the form i/n (e.g. 0/4)") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"{text}: need 0 <= i < n")
    return i, n


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how fast the model runs (shared by `repro invert` and `repro sample`)."""
    g = parser.add_argument_group("runtime")
    g.add_argument("--device", type=device, default="auto", help="cuda, cpu or auto (cuda when available)")
    g.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="model weights and autocast precision; auto: bf16 on GPU, fp32 on CPU",
    )
    g.add_argument("--compile", action="store_true", help="torch.compile the UNet (pays off on long GPU runs)")
    g.add_argument(
        "--no-channels-last",
        dest="channels_last",
        action="store_false",
        help="keep NCHW tensors on the GPU (channels_last is the default there)",
    )
    g.add_argument(
        "--shard",
        type=parse_shard,
        default=(0, 1),
        metavar="I/N",
        help="do part I of N (separate GPUs or cluster jobs); all parts write to one --out",
    )
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
    parser.add_argument(
        "--dataset",
        required=True,
        help="a dataset name (repro data list), or your own data: a folder with one subfolder per "
        "class, or an .npz of images and labels",
    )
    parser.add_argument(
        "--split", default=None, help="split of the dataset (default: target where the dataset has one, else train)"
    )
    parser.add_argument(
        "--image-size",
        type=POSITIVE,
        default=None,
        help="decode the images at N px (default: the dataset's own size; the generator gets its "
        "--resolution either way)",
    )
    parser.add_argument("--data-root", default=None, help="offline data folder (default: $REPRO_DATA)")
    parser.add_argument("--limit", type=POSITIVE, default=None, help="only the first N images of the split")
    parser.add_argument(
        "--per-class",
        type=POSITIVE,
        default=None,
        help="only N images of each class, the seeded subset the experiments train on "
        "(repro.experiments.protocol.training_set)",
    )
    parser.add_argument("--subset-seed", type=NONNEGATIVE, default=0, help="seed of the --per-class subset")
    parser.add_argument("--out", required=True, help="output folder (checkpoint files, run.json, resume state)")
    p = parser.add_argument_group("method")
    p.add_argument("--inversion-steps", type=POSITIVE, default=3000, help="updates per embedding (default 3000)")
    p.add_argument(
        "--checkpoints",
        type=listed(POSITIVE),
        default=None,
        help="steps at which embeddings are saved (default: every 1000 steps and the last)",
    )
    p.add_argument(
        "--tokens",
        type=POSITIVE,
        default=None,
        help="tokens per embedding (default: the generator's context, 77 for SD; the authors use 5)",
    )
    p.add_argument(
        "--resolution",
        type=POSITIVE,
        default=None,
        help="target resolution in px (default: the generator's; the paper uses 128/256 for SD)",
    )
    p.add_argument("--batch", type=POSITIVE, default=256, help="images trained together per UNet call")
    p.add_argument("--inversion-lr", type=RATE, default=0.03, help="AdamW learning rate, constant (default 0.03)")
    p.add_argument("--weight-decay", type=number(at_least=0), default=0.01, help="AdamW weight decay (authors: 0.01)")
    p.add_argument(
        "--init",
        choices=["random", "text"],
        default="random",
        help="random: U(-s, s) as the authors' embedding table; text: encoding of --init-prompt",
    )
    p.add_argument("--init-scale", type=number(at_least=0), default=0.1, help="s of the random init (authors: 0.1)")
    p.add_argument("--init-prompt", default="", help="prompt for --init text; {} becomes the class name")
    p.add_argument(
        "--latents",
        choices=["sample", "mean"],
        default="sample",
        help="z0 per step: a draw from the cached VAE posterior (default) or its mean",
    )
    p.add_argument(
        "--reencode-every-step",
        action="store_true",
        help="run the VAE encoder at every step (the authors' code path; same distribution, slower)",
    )
    p.add_argument("--seed", type=NONNEGATIVE, default=0)
    p.add_argument("--state-every", type=NONNEGATIVE, default=0, help="also save resume state every N steps")
    p.add_argument(
        "--stop-after-steps",
        type=POSITIVE,
        default=None,
        help="stop (resumably) after this many UNet steps: a time slice for cluster jobs",
    )
    add_runtime_arguments(parser)


def run(args) -> int:
    from ..data import dataset_spec, load_split, requested
    from ..files import output_folder, write_arguments
    from ..generators import load_generator
    from ..provenance import phase
    from .config import InversionConfig
    from .run import invert

    output_folder(args.out)
    device, dtype = runtime(args)
    config = InversionConfig(
        steps=args.inversion_steps,
        checkpoints=args.checkpoints,
        tokens=args.tokens,
        batch=args.batch,
        lr=args.inversion_lr,
        weight_decay=args.weight_decay,
        resolution=args.resolution,
        init=args.init,
        init_scale=args.init_scale,
        init_prompt=args.init_prompt,
        latents=args.latents,
        reencode_every_step=args.reencode_every_step,
        seed=args.seed,
        precision=dtype,
        compile=args.compile,
        channels_last=args.channels_last,
        state_every=args.state_every,
    )
    spec = dataset_spec(args.dataset)
    split = args.split or ("target" if "target" in spec.splits else "train")
    with phase("data"):
        images = load_split(args.dataset, split, root=args.data_root, size=args.image_size)
        images = requested(images, args.per_class, args.subset_seed, args.limit)
    with phase("generator"):
        bundle = load_generator(
            args.generator, dtype=dtype, device=device, resolution=args.resolution, unet_weights=args.unet_weights
        )
    resolution = args.resolution or bundle.resolution
    if images.resolution != resolution:
        print(
            f"repro invert: the {images.resolution} px images of {images.name} are resized to {resolution} px for "
            f"the generator only; `repro sample` writes its images at {images.resolution} px",
            file=sys.stderr,
        )
    with phase("inversion"):  # encoding the images, compilation, the steps and writing the checkpoints
        files = invert(
            bundle,
            images.images,
            images.labels,
            images.ids,
            images.classes,
            args.out,
            config,
            dataset=spec.name,
            split=split,
            shard=args.shard,
            stop_after_steps=args.stop_after_steps,
            progress=not args.quiet,
        )
    if files is None:
        print(f"stopped after {args.stop_after_steps} steps; rerun the same command to continue")
    else:
        write_arguments(args.out, args, weights=bundle.fingerprint)
        print("\n".join(str(f) for f in files))
    return 0
