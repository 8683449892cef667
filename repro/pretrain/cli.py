"""``repro pretrain vae|adopt-vae|unet|export|card|all|pack``: pretrain, export and describe the embedded mini model.

``adopt-vae`` finishes the autoencoder stage with the autoencoder of an exported model (``--weights``'s
``mini/``, trained on the same pool split), so that ``unet`` retrains only the UNet and text encoder. Every
training action resumes from the checkpoint in ``--work`` and stops cleanly (checkpoint written) when
``--max-minutes`` is near or after ``--chunk-steps``, exiting with status 3: run the same command again to go
on. ``all`` runs the four steps in order, skipping what is done. ``pack`` writes one tar from which a fresh
machine resumes ``--work``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from ..arguments import NONNEGATIVE, POSITIVE, RATE, SHARE, device
from ..errors import ReproError
from ..files import output_file, output_folder
from .settings import ATTENTION_BACKENDS, MEMORY_FORMATS

ACTIONS = ("vae", "adopt-vae", "unet", "export", "card", "all", "pack")
#: the third-party CIFAR-10 classifier in the data folder that judges the card's CIFAR-10 samples
CIFAR_JUDGE = "models/akamaster-cifar10-resnet56-4bfd9763.th"
#: exit status of a stage that stopped at its deadline with its progress saved
RESUME_EXIT = 3


def configure(parser: argparse.ArgumentParser) -> None:
    from .export import DEFAULT_WEIGHTS
    from .settings import SCALES

    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--work", required=True, help="folder of checkpoints, logs and cached latents")
    parser.add_argument(
        "--scale",
        default="mini",
        choices=sorted(SCALES),
        help="mini: the committed weights (GPU); smoke: a few hundred images, a few steps (CPU)",
    )
    parser.add_argument(
        "--weights",
        default=str(DEFAULT_WEIGHTS),
        help="folder that receives mini/ and mini_checkpoints/ (export, card, all); adopt-vae "
        "reads the autoencoder of its mini/",
    )
    parser.add_argument(
        "--steps",
        type=POSITIVE,
        help="vae/unet: total optimisation steps (default: the scale's, else sized to --budget-minutes)",
    )
    parser.add_argument("--budget-minutes", type=RATE, help="vae/unet: training time that sizes the step count")
    parser.add_argument("--vae-steps", type=POSITIVE, help="all: total autoencoder steps")
    parser.add_argument("--unet-steps", type=POSITIVE, help="all: total UNet steps")
    parser.add_argument("--max-minutes", type=RATE, help="stop cleanly after this many minutes (exit status 3)")
    parser.add_argument(
        "--checkpoint-minutes",
        type=RATE,
        help="minutes between checkpoints, what a killed job loses at most (default 3)",
    )
    parser.add_argument("--chunk-steps", type=POSITIVE, help="stop cleanly after this many steps (exit status 3)")
    parser.add_argument("--seed", type=NONNEGATIVE, help="seed of the split, initialisation and batches (default 0)")
    parser.add_argument("--device", type=device, default="auto", help="auto | cpu | cuda")
    parser.add_argument("--no-compile", action="store_true", help="train without torch.compile")
    parser.add_argument(
        "--attention",
        choices=ATTENTION_BACKENDS,
        help="unet: pin the attention to this SDPA backend (default: torch's choice; bench/pretrain_speed.py "
        "--attention times them)",
    )
    parser.add_argument(
        "--memory-format",
        choices=MEMORY_FORMATS,
        help="unet: the memory layout of its training (default channels_last; bench/pretrain_speed.py "
        "--memory-formats times both)",
    )
    parser.add_argument(
        "--caption-balance",
        type=SHARE,
        help="unet: an image is drawn with weight count(its caption) ** (B - 1): 1 keeps the pool's caption "
        "frequencies, 0 makes every caption equally frequent (default 0.5)",
    )
    parser.add_argument("--data-root", help="offline data folder (default $REPRO_DATA)")
    parser.add_argument(
        "--cifar-judge",
        help=f"card: CIFAR-10 classifier that judges the CIFAR-10 samples "
        f"(default: the data folder's {CIFAR_JUDGE}; the card leaves that section out without one)",
    )
    parser.add_argument("--archive", help="pack: the tar file to write")


def _device(name: str):
    from ..classifiers.train import resolve_device

    device = resolve_device(name)
    if device.type == "cuda":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return device


def cifar_judge(args: argparse.Namespace) -> Path | None:
    """The card's CIFAR-10 judge: ``--cifar-judge``, else the data folder's, else none (said so)."""
    from ..paths import data_root

    if args.cifar_judge:
        if not Path(args.cifar_judge).is_file():
            raise ReproError(f"--cifar-judge {args.cifar_judge} does not exist; pass a CIFAR-10 classifier checkpoint")
        return Path(args.cifar_judge)
    root = data_root(args.data_root)
    if root is not None and (root / CIFAR_JUDGE).is_file():
        return root / CIFAR_JUDGE
    print(
        f"no CIFAR-10 judge ({CIFAR_JUDGE} in the data folder, or --cifar-judge): the card leaves out the "
        "CIFAR-10 recognition",
        flush=True,
    )
    return None


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    from . import pool
    from .autoencoder import adopt_autoencoder, train_autoencoder
    from .card import build_card
    from .diffusion import train_diffusion
    from .export import export_mini, pack_work
    from .settings import scale_settings

    work = Path(args.work)
    if args.action == "pack":
        if not args.archive:
            raise ReproError("pack needs --archive FILE.tar")
        output_file(args.archive, "--archive")
        print(f"packed {work} into {pack_work(work, args.archive)}")
        return 0
    if args.action in ("export", "card", "all"):
        output_folder(args.weights, "--weights")
    if args.action == "export":
        print(f"exported {export_mini(work, args.weights)}")
        return 0
    output_folder(work, "--work")
    single = args.action in ("vae", "unet")
    if not single and (args.steps is not None or args.budget_minutes is not None):
        raise ReproError(
            "--steps and --budget-minutes size one stage (vae or unet); with `all` use --vae-steps and --unet-steps"
        )
    scale = scale_settings(args.scale, seed=args.seed, checkpoint_minutes=args.checkpoint_minutes)
    if args.no_compile:
        scale = replace(scale, compile=None)
    if args.attention:
        scale = replace(scale, attention=args.attention)
    if args.memory_format:
        scale = replace(scale, memory_format=args.memory_format)
    if args.caption_balance is not None:
        scale = replace(scale, diffusion=replace(scale.diffusion, caption_balance=args.caption_balance))
    deadline = None if args.max_minutes is None else started + 60 * args.max_minutes
    judge = cifar_judge(args) if args.action in ("card", "all") else None  # checked before any training
    device = _device(args.device)
    train, holdout = pool.split_pool(
        pool.load_pool(args.data_root), scale.holdout_images, scale.seed, scale.pool_images
    )
    pool.record_split(work, train, holdout)
    if args.action == "adopt-vae":
        done = adopt_autoencoder(work, Path(args.weights) / "mini")
        print(f"vae: adopted from {done['adopted']['from']} ({done['steps']} steps)")
        return 0

    stages = {"vae": (train_autoencoder, args.vae_steps), "unet": (train_diffusion, args.unet_steps)}
    for action in [args.action] if single else ["vae", "unet"] if args.action == "all" else []:
        train_fn, steps = stages[action]
        done = train_fn(
            work,
            train,
            scale,
            device,
            deadline=deadline,
            steps=args.steps if single else steps,
            budget_minutes=args.budget_minutes,
            chunk_steps=args.chunk_steps,
        )
        if done is None:
            return RESUME_EXIT
        print(f"{action}: done, {done['steps']} steps in {done['train_minutes']} min", flush=True)
    if single:
        return 0
    if args.action == "all":
        export_mini(work, args.weights)
    folder = Path(args.weights) / "mini"
    if not (folder / "unet").is_dir():
        raise ReproError(f"no exported model in {folder}; run `repro pretrain export --work {work}` first")
    metrics = build_card(
        folder,
        train,
        holdout,
        scale.card,
        scale.seed,
        device,
        cifar_target=pool.load_cifar_target(args.data_root),
        cifar_judge=judge,
    )
    fidelity = {g: v["photo_mean_percent"] for g, v in metrics["prompt_fidelity"]["by_guidance_scale"].items()}
    print(
        f"model card: {folder / 'README.md'}; holdout PSNR {metrics['reconstruction']['holdout_psnr_db']} dB; "
        f"photo captions recognised by the pool classifier, by guidance scale: {fidelity}"
    )
    if metrics["cifar10_judge"]:
        cifar = {g: v["mean_percent"] for g, v in metrics["cifar10_judge"]["by_guidance_scale"].items()}
        print(f"CIFAR-10 captions recognised by the CIFAR-10 judge, by guidance scale: {cifar}")
    return 0
