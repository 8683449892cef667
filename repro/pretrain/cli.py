"""``repro pretrain vae|unet|export|card|all|pack``: pretrain, export and describe the embedded mini model.

Every training action resumes from the checkpoint in ``--work`` and stops cleanly (checkpoint written) when
``--max-minutes`` is near or after ``--chunk-steps``, exiting with status 3: run the same command again to go
on. ``all`` runs the four steps in order, skipping what is done. ``pack`` writes one tar from which a fresh
machine resumes ``--work``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..arguments import NONNEGATIVE, POSITIVE, RATE, device
from ..errors import ReproError
from ..files import output_file, output_folder

ACTIONS = ("vae", "unet", "export", "card", "all", "pack")
#: exit status of a stage that stopped at its deadline with its progress saved
RESUME_EXIT = 3


def configure(parser: argparse.ArgumentParser) -> None:
    from .export import DEFAULT_WEIGHTS
    from .settings import SCALES

    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--work", required=True, help="folder of checkpoints, logs and cached latents")
    parser.add_argument("--scale", default="mini", choices=sorted(SCALES),
                        help="mini: the committed weights (GPU); smoke: a few hundred images, a few steps (CPU)")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS),
                        help="folder that receives mini/ and mini_checkpoints/ (export, card, all)")
    parser.add_argument("--steps", type=POSITIVE, help="vae/unet: total optimisation steps (default: the scale's, "
                        "else sized to --budget-minutes)")
    parser.add_argument("--budget-minutes", type=RATE, help="vae/unet: training time that sizes the step count")
    parser.add_argument("--vae-steps", type=POSITIVE, help="all: total autoencoder steps")
    parser.add_argument("--unet-steps", type=POSITIVE, help="all: total UNet steps")
    parser.add_argument("--max-minutes", type=RATE, help="stop cleanly after this many minutes (exit status 3)")
    parser.add_argument("--chunk-steps", type=POSITIVE, help="stop cleanly after this many steps (exit status 3)")
    parser.add_argument("--seed", type=NONNEGATIVE, help="seed of the split, initialisation and batches (default 0)")
    parser.add_argument("--device", type=device, default="auto", help="auto | cpu | cuda")
    parser.add_argument("--no-compile", action="store_true", help="train without torch.compile")
    parser.add_argument("--data-root", help="offline data folder (default $REPRO_DATA)")
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


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    from . import pool
    from .autoencoder import train_autoencoder
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
        raise ReproError("--steps and --budget-minutes size one stage (vae or unet); with `all` use "
                         "--vae-steps and --unet-steps")
    scale = scale_settings(args.scale, seed=args.seed, compile=False if args.no_compile else None)
    deadline = None if args.max_minutes is None else started + 60 * args.max_minutes
    device = _device(args.device)
    train, holdout = pool.split_pool(pool.load_pool(args.data_root), scale.holdout_images, scale.seed,
                                     scale.pool_images)
    pool.record_split(work, train, holdout)

    stages = {"vae": (train_autoencoder, args.vae_steps), "unet": (train_diffusion, args.unet_steps)}
    for action in ([args.action] if single else ["vae", "unet"] if args.action == "all" else []):
        train_fn, steps = stages[action]
        done = train_fn(work, train, scale, device, deadline=deadline, steps=args.steps if single else steps,
                        budget_minutes=args.budget_minutes, chunk_steps=args.chunk_steps)
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
    metrics = build_card(folder, train, holdout, scale.card, scale.seed, device,
                         cifar_target=pool.load_cifar_target(args.data_root))
    fidelity = {g: v["mean_percent"] for g, v in metrics["prompt_fidelity"]["by_guidance_scale"].items()}
    print(f"model card: {folder / 'README.md'}; holdout PSNR {metrics['reconstruction']['holdout_psnr_db']} dB; "
          f"share of samples recognised, by guidance scale: {fidelity}")
    return 0
