"""DDIS and DeepInversion cost: seconds per class token, per DAG image and per DeepInversion image, beside the paper.

Times the calls the ddis_efficiency notebook times (``repro.experiments.timing``) on the mini generator and a
ResNet-34 teacher at 64 px (the ImageNette teacher's shape), one row per unit:

    class token        ``learn_class_tokens`` with DAG (DDIS's CAT learning), ``--classes`` classes learned
                       together with the paper's budget (30 epochs of 20 accumulated images, early stop above 70 %
                       correct); seconds per class
    DAG image          ``DDISSampler.sample`` in mode ddis (30 DDIM steps, guidance, DAG + CAT) in the batches the
                       DDIS sets are sampled in (``repro.ddis.SAMPLE_BATCH``), after a warm-up batch
    DeepInversion image  ``invert_batch``: ``--deepinversion-timed`` iterations of one batch, projected to
                       ``--deepinversion-iterations`` (the paper scale's setting) and shared by the batch's images
    DDIS image, tokens included  the paper's unit of "126 hours for 100k images": the tokens of 1,000 classes and
                       100k DAG images, projected from the two measured costs

FLOPs per unit come from ``torch.utils.flop_counter`` (matrix products, convolutions, attention; forward and
backward), counted on one epoch of the class tokens, one sampling batch and one DeepInversion iteration, so the
CSV gives achieved TFLOP/s and their share of the bf16 matrix-product rate measured on the same GPU. The
teacher has random weights unless ``--teacher`` names a checkpoint: the cost does not depend on them, except
that a random teacher never lets CAT stop early, so every class runs the whole budget (the paper's upper bound).
The paper's figures (hardware unstated) are in the ``paper_*`` columns with the line of ``ddis.txt`` they come
from.

``--profile`` also writes ``ddis_speed_profile.txt``: for one epoch of the class tokens, one sampling batch and
``--deepinversion-timed`` DeepInversion iterations, the wall time beside the summed kernel time and the kernels
that took the most GPU time. Profiling adds a minute or more: give the call about 5 minutes (a 200-second limit
stopped it on an H100 after the CSV, before the profile).

    python bench/ddis_speed.py --out results/bench           # GPU, about 3 minutes on an H100
    python bench/ddis_speed.py --out /tmp/bench --tiny       # CPU smoke run of the same code
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch

from repro.arguments import NONNEGATIVE, POSITIVE, RATE
from repro.baselines.deepinversion import invert_batch, preset_for
from repro.classifiers import build_model
from repro.classifiers.teacher import load_teacher, prepare_teacher
from repro.ddis import SAMPLE_BATCH, CATConfig, DAGConfig, DDISSampler, SamplerConfig, learn_class_tokens
from repro.experiments import timing
from repro.generators.mini_config import IMAGENETTE_CLASSES
from repro.provenance import Provenance, RowsFile

#: the paper's figures (ddis.txt, the DDIS paper's summary in ../shared/papers): seconds per unit and their source
PAPER = {
    "class token": (7.5 * 60, "ddis.txt line 93 (Limitations): 'each run takes only 7.5 minutes' per class"),
    "DAG image": (
        None,
        "not given: the paper's 126 h for 100k images (ddis.txt line 81) include the class tokens; see the row "
        "'DDIS image, tokens included' (126 h less 1,000 x 7.5 min leaves 1 h, 0.036 s per image, if the 126 h "
        "are exactly tokens and sampling)",
    ),
    "DeepInversion image": (18_444 * 3600 / 100_000, "ddis.txt line 81 (Key Findings): 18,444 h for 100k images"),
    "DDIS image, tokens included": (126 * 3600 / 100_000, "ddis.txt line 81 (Key Findings): 126 h for 100k images"),
}
#: the paper's synthesis: 100k ImageNet images of 1,000 classes
PAPER_IMAGES, PAPER_CLASSES = 100_000, 1_000


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results/bench", help="folder for ddis_speed.csv")
    p.add_argument("--generator", default="mini", help="mini | a diffusers folder")
    p.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    p.add_argument("--teacher", default=None, help="a classifier checkpoint (default: a random ResNet-34 at 64 px)")
    p.add_argument("--classes", type=POSITIVE, default=2, help="classes whose tokens are learned (together) and timed")
    p.add_argument("--cat-epochs", type=POSITIVE, default=30)
    p.add_argument("--cat-accumulation", type=POSITIVE, default=20)
    p.add_argument("--cat-images-per-step", type=POSITIVE, default=1)
    p.add_argument("--steps", type=POSITIVE, default=30, help="DDIM steps of every sampling (the paper's 30)")
    p.add_argument("--prompt", default="{a} {token} {cls}", help="the mini scale's CAT prompt")
    p.add_argument("--dag-step-rms", type=RATE, default=0.03)
    p.add_argument("--dag-images", type=POSITIVE, default=400, help="DAG images timed (after one warm-up batch)")
    p.add_argument("--deepinversion-batch", type=POSITIVE, default=152, help="the paper scale's batch")
    p.add_argument("--deepinversion-iterations", type=POSITIVE, default=20_000, help="the paper scale's iterations")
    p.add_argument("--deepinversion-timed", type=POSITIVE, default=50, help="iterations timed (after one warm-up)")
    p.add_argument("--seed", type=NONNEGATIVE, default=0)
    p.add_argument(
        "--graphed",
        action="store_true",
        help="replay each DAG step's L_BN and gradient as a CUDA graph (repro.ddis.dag; GPU only), in the class "
        "tokens and the DAG images timed (their FLOPs and --profile stay on the eager path)",
    )
    p.add_argument("--profile", action="store_true", help="also write the top kernels of each unit's work")
    p.add_argument("--tiny", action="store_true", help="CPU smoke run: the tiny test generator, a tiny budget")
    args = p.parse_args(argv)
    if args.graphed and (args.tiny or not torch.cuda.is_available()):
        p.error("--graphed replays CUDA graphs: it needs a GPU (the --tiny run is on the CPU)")
    if args.tiny:
        args.classes, args.cat_epochs, args.cat_accumulation, args.steps, args.dag_images = 2, 2, 1, 2, 3
        args.deepinversion_batch, args.deepinversion_iterations, args.deepinversion_timed = 3, 4, 2
    return args


def models(args, device: torch.device):
    """The generator, the teacher and the classes timed (the tiny test generator and a small teacher with --tiny)."""
    from repro.generators import load_generator
    from repro.generators.tiny import tiny_generator

    if args.tiny:
        bundle = tiny_generator(resolution=32).to(device=device)
        return bundle, prepare_teacher(build_model("cifar_resnet20", 10, 16), device), ["cat", "dog"]
    bundle = load_generator(args.generator, dtype=args.dtype, device=device)
    teacher = (
        load_teacher(args.teacher, device)
        if args.teacher
        else prepare_teacher(build_model("resnet34", len(IMAGENETTE_CLASSES), bundle.resolution), device)
    )
    return bundle, teacher, list(IMAGENETTE_CLASSES[: args.classes])


def main(argv=None) -> int:
    args = parse(argv)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    torch.backends.cudnn.benchmark = True
    bundle, teacher, classes = models(args, device)
    peak = timing.matmul_tflops(device)
    sampler_config = SamplerConfig(
        steps=args.steps,
        prompt=args.prompt,
        teacher_resolution=teacher.resolution,
        dag=DAGConfig(step_rms=args.dag_step_rms),
    )
    cat = CATConfig(
        epochs=args.cat_epochs, accumulation=args.cat_accumulation, images_per_step=args.cat_images_per_step
    )
    provenance = Provenance("bench_ddis_speed", "bench", config=vars(args), generator=bundle.name)
    results = RowsFile(Path(args.out) / "ddis_speed.csv")

    def record(unit: str, seconds: float, flops: float, wall: float | None, **fields) -> None:
        paper_seconds, source = PAPER[unit]
        tflops = flops / seconds / 1e12
        results.add(
            provenance.row(
                seed=args.seed,
                wall_seconds=wall,
                unit=unit,
                seconds=seconds,
                **fields,
                gflop_per_unit=flops / 1e9,
                achieved_tflops=tflops,
                peak_tflops=round(peak, 1),
                share_of_peak=tflops / peak if device.type == "cuda" else None,
                paper_seconds=paper_seconds,
                paper_source=source,
                ratio_to_paper=seconds / paper_seconds if paper_seconds else None,
                teacher=args.teacher or f"random {getattr(teacher, 'arch', 'teacher')}",
                resolution=bundle.resolution,
            )
        )
        paper = f"paper {paper_seconds:.3g} s" if paper_seconds else "no paper figure"
        print(f"{unit}: {seconds:.4g} s ({tflops:.2f} TFLOP/s; {paper})", flush=True)

    #: each unit's work for the FLOP count (and --profile): one epoch, one sampling batch, one or more iterations
    work = {}

    # 1. class tokens: the whole budget timed; FLOPs of one epoch, times the epochs each class ran
    learned = timing.time_class_tokens(bundle, teacher, classes, sampler_config, cat, args.seed, graphed=args.graphed)
    updates = sum(learned["updates"].values()) / len(classes)
    # FLOPs belong to the work, not to how it is launched: counted (and profiled) on the eager path, whose every
    # operation the counter sees (a graph's replays are not operations it is told of)
    work["class tokens, one epoch"] = lambda: learn_class_tokens(
        bundle, teacher, classes, sampler_config, replace(cat, epochs=1), seed=args.seed, progress=False
    )
    epoch_flops = timing.counted_flops(work["class tokens, one epoch"])
    per_class, class_flops = learned["seconds"] / len(classes), epoch_flops / len(classes) * updates
    record(
        "class token",
        per_class,
        class_flops,
        learned["seconds"],
        measured=f"{len(classes)} classes learned together, {updates:g} epochs each of {cat.accumulation} x "
        f"{cat.images_per_step} images",
        batch=len(classes) * cat.accumulation * cat.images_per_step,
        graphed=args.graphed,
        updates_per_unit=updates,
        images_per_update=cat.accumulation * cat.images_per_step,
    )

    # 2. DAG images (DAG + CAT, the ddis mode) in the DDIS sets' batches, halved while the device runs out of memory
    sampler = DDISSampler(bundle, classes, "ddis", teacher, learned["tokens"], sampler_config, graphed=args.graphed)
    sampled, batch = timing.fit_batch(
        partial(timing.time_ddis_sampling, sampler, args.dag_images, seed=args.seed),
        min(SAMPLE_BATCH, args.dag_images),
        device,
    )
    labels = [i % len(classes) for i in range(batch)]
    eager = (
        sampler
        if not args.graphed
        else DDISSampler(bundle, classes, "ddis", teacher, learned["tokens"], sampler_config)
    )
    work[f"DAG sampling, one batch of {batch}"] = lambda: eager.sample(
        labels, torch.Generator(device=device).manual_seed(args.seed)
    )
    batch_flops = timing.counted_flops(work[f"DAG sampling, one batch of {batch}"])
    per_image, image_flops = sampled["seconds"] / args.dag_images, batch_flops / batch
    record(
        "DAG image",
        per_image,
        image_flops,
        sampled["seconds"],
        measured=f"{args.dag_images} images, {args.steps} DDIM steps",
        batch=batch,
        graphed=args.graphed,
        updates_per_unit=args.steps,
    )

    # 3. DeepInversion: a few iterations of one batch timed, projected to the run's iterations
    config = replace(
        preset_for(teacher.resolution),
        batch_size=args.deepinversion_batch,
        iterations=args.deepinversion_iterations,
    )
    inverted = timing.time_deepinversion(
        teacher, teacher.resolution, config, args.deepinversion_timed, len(classes), args.seed
    )
    labels = torch.arange(config.batch_size) % len(classes)

    def deepinversion(iterations: int) -> None:
        stage = replace(config, iterations=iterations, low_res_iterations=0)
        invert_batch(teacher, labels, teacher.resolution, stage, args.seed)

    iteration_flops = timing.counted_flops(partial(deepinversion, 1))
    timed = args.deepinversion_timed
    work[f"DeepInversion, {timed} iterations of a batch of {config.batch_size}"] = partial(deepinversion, timed)
    iterations = args.deepinversion_iterations
    record(
        "DeepInversion image",
        inverted["sec_per_iteration"] * iterations / config.batch_size,
        iteration_flops * iterations / config.batch_size,
        inverted["sec_per_iteration"] * args.deepinversion_timed,
        measured=f"projected from {args.deepinversion_timed} timed iterations to {iterations}",
        batch=config.batch_size,
        updates_per_unit=iterations,
    )

    # 4. the paper's unit: 1,000 classes' tokens and 100k images, per image
    record(
        "DDIS image, tokens included",
        (per_class * PAPER_CLASSES + per_image * PAPER_IMAGES) / PAPER_IMAGES,
        (class_flops * PAPER_CLASSES + image_flops * PAPER_IMAGES) / PAPER_IMAGES,
        None,
        measured=f"projected: {PAPER_CLASSES} class tokens and {PAPER_IMAGES} DAG images at the measured costs",
    )
    if args.profile:
        tables = [f"## {name}:\n{timing.kernel_table(run, device)}" for name, run in work.items()]
        (Path(args.out) / "ddis_speed_profile.txt").write_text("\n\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
