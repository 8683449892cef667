"""``repro ddis token|sample|deepinversion|distill``: DDIS and its baseline outside the workflow.

    repro ddis token --generator mini --teacher T.th --classes cifar10 --out tokens.safetensors
    repro ddis sample --mode ddis --generator mini --teacher T.th --tokens tokens.safetensors --classes cifar10 \\
        --images-per-class 100 --out work/ddis_cifar10
    repro ddis deepinversion --teacher T.th --classes cifar10 --images-per-class 100 --out work/di_cifar10
    repro ddis distill --teacher T.th --synthetic work/ddis_cifar10 --dataset cifar10 --out results/kd.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..arguments import NONNEGATIVE, POSITIVE, RATE, SHARE, device, number
from ..errors import ReproError
from ..files import output_file, output_folder
from ..provenance import phase
from .sampler import SAMPLE_BATCH


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ddis_command", metavar="STEP", required=True)

    token = sub.add_parser("token", help="learn one Class Alignment Token per class")
    _teacher_args(token)
    _generator_args(token)
    _sampler_args(token)
    token.add_argument("--no-dag", action="store_true", help="learn the tokens without DAG (the +CAT ablation)")
    token.add_argument("--cat-lr", type=RATE, default=0.005, help="Adam learning rate of the tokens")
    token.add_argument("--cat-max-epochs", type=POSITIVE, default=30, help="epochs at most")
    token.add_argument("--cat-grad-accumulation", type=POSITIVE, default=20, help="accumulated steps per epoch")
    token.add_argument("--cat-batch", type=POSITIVE, default=1, help="images per class per accumulated step")
    token.add_argument("--cat-stop-accuracy", type=SHARE, default=0.7, help="stop a class above this share correct")
    token.add_argument("--micro-batch", type=POSITIVE, default=200, help="images per generator call (memory)")
    token.add_argument(
        "--out",
        required=True,
        help="tokens file (.safetensors: class -> vector); until it is "
        "written, OUT.resume.pt keeps the state of the last epoch and a rerun resumes there; the "
        "command's options are recorded beside it (arguments.json)",
    )
    token.add_argument("--history", default=None, help="CSV of the share correct per epoch and class")

    sample = sub.add_parser("sample", help="sample a synthetic dataset: vanilla, +CAT, +DAG or DDIS")
    sample.add_argument("--mode", choices=["vanilla", "cat", "dag", "ddis"], default="ddis")
    _teacher_args(sample, required=False)
    _generator_args(sample)
    _sampler_args(sample)
    sample.add_argument("--tokens", default=None, help="tokens file from `repro ddis token` (modes cat, ddis)")
    sample.add_argument("--images-per-class", type=POSITIVE, required=True)
    sample.add_argument(
        "--batch-size", type=POSITIVE, default=SAMPLE_BATCH, help="images per generation batch (DAG's batch statistics)"
    )
    sample.add_argument("--out", required=True, help="synthetic dataset folder")

    di = sub.add_parser("deepinversion", help="the DeepInversion baseline: optimise pixels against the teacher")
    _teacher_args(di)
    _common_args(di)
    di.add_argument("--preset", default=None, help="imagenet | imagenet-multires | cifar10 (default: by resolution)")
    di.add_argument("--deepinversion-iterations", type=POSITIVE, default=None, help="override the preset's iterations")
    di.add_argument("--deepinversion-batch", type=POSITIVE, default=None, help="override the preset's batch size")
    di.add_argument("--deepinversion-lr", type=RATE, default=None, help="override the preset's input learning rate")
    di.add_argument(
        "--deepinversion-r-feature",
        type=number(at_least=0),
        default=None,
        help="override the preset's BatchNorm-loss weight",
    )
    di.add_argument("--images-per-class", type=POSITIVE, required=True)
    di.add_argument("--out", required=True, help="synthetic dataset folder")

    kd = sub.add_parser("distill", help="data-free distillation of the teacher into a student, real test set")
    kd.add_argument("--teacher", required=True, help="teacher checkpoint (repro classifier or akamaster .th)")
    kd.add_argument("--synthetic", required=True, help="synthetic dataset folder")
    kd.add_argument("--dataset", required=True, help="the teacher's dataset; its test split scores the student")
    kd.add_argument("--student", default="resnet18")
    kd.add_argument("--steps", type=POSITIVE, default=2000)
    kd.add_argument("--batch-size", type=POSITIVE, default=128)
    kd.add_argument("--temperature", type=RATE, default=4.0)
    kd.add_argument("--data-root", default=None)
    kd.add_argument("--seed", type=NONNEGATIVE, default=0)
    kd.add_argument("--device", type=device, default="auto")
    kd.add_argument("--experiment", default="ddis_kd")
    kd.add_argument("--scale", default="adhoc")
    kd.add_argument("--out", required=True, help="result CSV")


def _common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--classes", default=None, help="comma-separated class names, in the teacher's label order")
    p.add_argument(
        "--dataset",
        default=None,
        help="take the class names from this dataset (repro.data; your own data's folder or .npz too)",
    )
    p.add_argument("--data-root", default=None)
    p.add_argument("--seed", type=NONNEGATIVE, default=0)
    p.add_argument("--device", type=device, default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _teacher_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--teacher", required=required, help="teacher checkpoint (repro classifier or akamaster .th)")
    p.add_argument(
        "--teacher-resolution",
        type=POSITIVE,
        default=None,
        help="the teacher's input size (default: the checkpoint's, else the image size)",
    )


def _generator_args(p: argparse.ArgumentParser) -> None:
    _common_args(p)
    p.add_argument("--generator", default="mini", help="mini | sd14 | sd21 | hub id | diffusers folder")
    p.add_argument("--dtype", default="fp32", help="generator weights: fp32 | bf16 (GPU math is bf16 autocast)")
    p.add_argument("--resolution", type=POSITIVE, default=None, help="generation resolution (default: native)")


def _sampler_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inference-steps", type=POSITIVE, default=30, help="DDIM steps")
    p.add_argument("--guidance", type=number(at_least=0), default=7.5, help="classifier-free guidance scale")
    p.add_argument("--cat-prompt", default="{a} {token} {cls}", help="prompt template ({a} article, {token}, {cls})")
    p.add_argument(
        "--eta",
        type=number(at_least=0),
        default=1.0,
        help="DAG step size (the paper gives none); ignored with --dag-step-rms",
    )
    p.add_argument(
        "--dag-step-rms",
        type=RATE,
        default=None,
        help="calibrate eta per batch, label-free: the first DAG step moves the pure-noise latent by "
        "this share of its unit std (RMS), e.g. 0.03",
    )
    p.add_argument("--dag-start", type=NONNEGATIVE, default=0, help="first DDIM step index with DAG")
    p.add_argument("--dag-stop", type=NONNEGATIVE, default=None, help="one past the last DDIM step index with DAG")
    p.add_argument("--dag-decode", choices=["zt", "x0"], default="zt", help="decode z_t (paper) or predicted x0")
    p.add_argument(
        "--bn-norm",
        choices=["squared", "l2"],
        default="squared",
        help="BatchNorm distance: squared L2 (paper) or L2 (DeepInversion)",
    )


def _device(name: str) -> torch.device:
    from ..classifiers.train import resolve_device

    return resolve_device(name)


def _classes(args) -> list[str]:
    if args.classes:
        return [c.strip() for c in args.classes.split(",") if c.strip()]
    if args.dataset:
        from ..data import load_split

        return list(load_split(args.dataset, "test", root=args.data_root).classes)
    raise ReproError("name the classes: --classes a,b,c (in the teacher's label order) or --dataset NAME")


def _teacher(args, device: torch.device):
    from ..classifiers.teacher import load_teacher

    teacher = load_teacher(args.teacher, device)
    if args.teacher_resolution is None:
        args.teacher_resolution = getattr(teacher, "resolution", None)
    return teacher


def _sampler_config(args):
    from .dag import DAGConfig
    from .sampler import SamplerConfig

    return SamplerConfig(
        steps=args.inference_steps,
        guidance_scale=args.guidance,
        prompt=args.cat_prompt,
        resolution=args.resolution,
        teacher_resolution=args.teacher_resolution,
        dag=DAGConfig(
            eta=args.eta,
            step_rms=args.dag_step_rms,
            start=args.dag_start,
            stop=args.dag_stop,
            decode=args.dag_decode,
            norm=args.bn_norm,
        ),
    )


def _generator(args, device: torch.device):
    from ..generators import load_generator

    return load_generator(args.generator, dtype=args.dtype, device=device, resolution=args.resolution)


def run(args: argparse.Namespace) -> int:
    return {"token": _run_token, "sample": _run_sample, "deepinversion": _run_deepinversion, "distill": _run_distill}[
        args.ddis_command
    ](args)


def _run_token(args) -> int:
    from ..files import write_arguments
    from ..provenance import Provenance, timed, write_rows
    from .cat import CATConfig, learn_class_tokens, resume_path

    out = output_file(args.out)
    if args.history:
        output_file(args.history, "--history")
    device = _device(args.device)
    classes = _classes(args)
    with phase("teacher"):
        teacher = _teacher(args, device)
    with phase("generator"):
        bundle = _generator(args, device)
    config = CATConfig(
        lr=args.cat_lr,
        epochs=args.cat_max_epochs,
        accumulation=args.cat_grad_accumulation,
        images_per_step=args.cat_batch,
        stop_share=args.cat_stop_accuracy,
        micro_batch=args.micro_batch,
    )
    with timed() as seconds:
        tokens, history = learn_class_tokens(
            bundle,
            teacher,
            classes,
            _sampler_config(args),
            config,
            use_dag=not args.no_dag,
            seed=args.seed,
            progress=not args.quiet,
            state_path=resume_path(out),
        )
    tokens.save(out)
    resume_path(out).unlink(missing_ok=True)
    write_arguments(out.parent, args, weights=bundle.fingerprint)
    total = seconds()
    print(
        f"learned {len(classes)} class tokens in {total:.1f} s ({total / len(classes):.1f} s per class) -> {args.out}"
    )
    if args.history:
        prov = Provenance("ddis_tokens", "adhoc", vars(args), generator=args.generator, dataset=args.dataset or "")
        write_rows([prov.row(seed=args.seed, wall_seconds=row.pop("seconds"), **row) for row in history], args.history)
    return 0


def _run_sample(args) -> int:
    from ..files import write_arguments
    from .sampler import DDISSampler, check_mode, sample_dataset
    from .tokens import ClassTokens

    output_folder(args.out)
    device = _device(args.device)
    uses_cat, uses_dag = check_mode(args.mode)
    classes = _classes(args)
    if uses_dag and not args.teacher:
        raise ReproError(f"mode {args.mode} uses DAG: give the teacher with --teacher")
    if uses_cat and not args.tokens:
        raise ReproError(f"mode {args.mode} uses class tokens: give --tokens (from `repro ddis token`)")
    with phase("teacher"):
        teacher = _teacher(args, device) if uses_dag else None
    tokens = ClassTokens.load(args.tokens) if uses_cat else None
    with phase("generator"):
        bundle = _generator(args, device)
    sampler = DDISSampler(bundle, classes, args.mode, teacher, tokens, _sampler_config(args))
    dataset = sample_dataset(sampler, args.images_per_class, args.batch_size, args.out, args.seed, not args.quiet)
    write_arguments(args.out, args, weights=bundle.fingerprint)
    print(f"{len(dataset)} {args.mode} images of {len(classes)} classes -> {dataset.path}")
    return 0


def _run_deepinversion(args) -> int:
    from dataclasses import replace

    from ..baselines.deepinversion import deepinversion_dataset, preset_for
    from ..files import write_arguments

    output_folder(args.out)
    device = _device(args.device)
    classes = _classes(args)
    with phase("teacher"):
        teacher = _teacher(args, device)
    resolution = args.teacher_resolution
    if resolution is None:
        raise ReproError("the teacher does not say its input size; give --teacher-resolution")
    config = preset_for(resolution, args.preset)
    overrides = {
        "iterations": args.deepinversion_iterations,
        "batch_size": args.deepinversion_batch,
        "lr": args.deepinversion_lr,
        "r_feature": args.deepinversion_r_feature,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    config = replace(config, **overrides)
    dataset = deepinversion_dataset(
        teacher, classes, args.images_per_class, args.out, resolution, config, args.seed, not args.quiet
    )
    write_arguments(args.out, args)
    print(f"{len(dataset)} DeepInversion images of {len(classes)} classes -> {dataset.path}")
    return 0


def _run_distill(args) -> int:
    from ..classifiers.teacher import load_teacher
    from ..data import load_split
    from ..provenance import Provenance, write_rows
    from .distill import distill

    output_file(args.out)
    device = _device(args.device)
    teacher = load_teacher(args.teacher, device)
    test = load_split(args.dataset, "test", root=args.data_root)
    result = distill(
        teacher,
        args.synthetic,
        test,
        args.student,
        args.steps,
        args.batch_size,
        args.temperature,
        args.seed,
        str(device),
    )
    prov = Provenance(args.experiment, args.scale, vars(args), dataset=args.dataset)
    write_rows(
        [
            prov.row(
                seed=args.seed,
                wall_seconds=result["train_seconds"],
                teacher=Path(args.teacher).name,
                synthetic=str(args.synthetic),
                **result,
            )
        ],
        args.out,
    )
    print(
        f"student {args.student}: {result['student_accuracy']:.2f} % "
        f"(teacher {result['teacher_accuracy']:.2f} %) -> {args.out}"
    )
    return 0
