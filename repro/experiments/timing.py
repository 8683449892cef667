"""Timing the suite's own code paths: the run-time artifacts (di_fig4_runtime, ddis_efficiency) and the GPU
benchmarks of ``bench/`` measure the same calls through these functions.

Every measurement runs the code the experiments run (``GroupTrainer.step`` of stage 1, ``Sampler.generate`` of
stage 2, ``learn_class_tokens`` and ``DDISSampler.sample`` of DDIS, ``invert_batch`` of DeepInversion) after
a warm-up, synchronised with the device. A :class:`Cost` splits a measured time into a fixed part and a part
per step, so that a few timed steps can be projected to the paper's step counts; ``Cost.projected(steps)``
says whether a value at ``steps`` is such a projection (the notebooks record it beside the value). Each timed
path counts in the phase its experiment runs count it in (``sampling``, ``inversion``, ``tokens``,
``deepinversion``), so the jobs table says where a timing notebook's minutes went.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from ..errors import ReproError
from ..provenance import phase

#: generators with Stable Diffusion v1.4's architecture: their cells line up with the paper's A40 numbers
SD14_SHAPED = ("sd14", "sd14-random")
#: the prompt of standard text-to-image sampling (every generator's vocabulary has these words)
PROMPT = "a photo of a {}"
PROMPT_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


# --- the device clock --------------------------------------------------------------------------------------
def sync(device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so wall time covers it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def reset_memory(device) -> None:
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gib(device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.device(device).type == "cuda" else None


@contextlib.contextmanager
def synced(device):
    """``with synced(device) as t: ...`` then ``t()``: wall seconds of the block, the device's work included."""
    sync(device)
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    sync(device)
    end.append(time.perf_counter())


def kernel_table(run: Callable[[], Any], device, rows: int = 40) -> str:
    """What bounds ``run()`` on the GPU: its wall time beside the summed time of the kernels it ran, then the
    ``rows`` operators and kernels that took the most GPU time (CPU time on a CPU; torch.profiler). Summed kernel
    time below the wall time means the GPU sat idle (launches, host work); above it, streams overlapped."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.device(device).type == "cuda" else [])
    with profile(activities=activities) as prof, synced(device) as seconds:
        run()
    averages = prof.key_averages()
    # the kernels' own rows only: an operator that launched a kernel outside a CUDA graph carries its time too
    kernels = sum(event.self_device_time_total for event in averages if event.device_type != DeviceType.CPU) / 1e6
    wall = seconds()
    head = (
        f"wall {wall:.3f} s; GPU kernels {kernels:.3f} s in all ({kernels / wall:.0%} of the wall: below 100 % "
        "the GPU idled, above it kernels of several streams overlapped)\n"
    )
    order = "self_device_time_total" if torch.device(device).type == "cuda" else "self_cpu_time_total"
    return head + averages.table(sort_by=order, row_limit=rows, max_name_column_width=90)


def fit_batch(measure: Callable[[int], Any], batch: int, device) -> tuple[Any, int]:
    """``measure(batch)``, halving ``batch`` while the device runs out of memory; (result, batch that fit)."""
    batch = int(batch)
    while True:
        try:
            return measure(batch), batch
        except torch.OutOfMemoryError:
            if batch == 1:
                raise
        reset_memory(device)  # outside the handler: its traceback no longer holds the failed attempt's tensors
        batch //= 2


# --- work done and the hardware's rate ----------------------------------------------------------------------
#: dense bf16 matrix-product rate of an H100 SXM as measured on this project's machines (TFLOP/s), the peak
#: the benchmarks' shares are of when they run elsewhere than on a GPU they can measure
H100_BF16_TFLOPS = 790.0


def counted_flops(run: Callable[[], Any]) -> float:
    """FLOPs of ``run()``: its matrix products, convolutions and attention, forward and backward, as counted by
    ``torch.utils.flop_counter`` (element-wise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return float(counter.get_total_flops())


def classifier_train_flops(arch: str, classes: int, resolution: int, device="cpu", batch: int = 2) -> float:
    """Forward and backward FLOPs of one training image of classifier ``arch`` (counted on ``batch`` images: the
    count grows linearly with the batch)."""
    import torch.nn.functional as F

    from ..classifiers import build_model

    model = build_model(arch, classes, resolution).to(device)
    x = torch.rand(batch, 3, resolution, resolution, device=device)
    labels = torch.zeros(batch, dtype=torch.long, device=device)
    return counted_flops(lambda: F.cross_entropy(model(x), labels).backward()) / batch


def matmul_tflops(device, size: int = 8192, repeats: int = 10) -> float:
    """The bf16 matrix-product rate the device sustains (a ``size``-cubed product, after warm-up), in TFLOP/s:
    the attainable peak that achieved rates are compared with. Off a GPU, :data:`H100_BF16_TFLOPS`."""
    if torch.device(device).type != "cuda":
        return H100_BF16_TFLOPS
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    with synced(device) as seconds:
        for _ in range(repeats):
            a @ b
    return 2 * size**3 * repeats / seconds() / 1e12


# --- costs and their projection ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Cost:
    """Seconds of one unit (an embedding, an image) as ``fixed + per_step * steps``, measured at ``timed_steps``."""

    per_step: float
    fixed: float
    timed_steps: int

    def at(self, steps: int) -> float:
        return self.fixed + self.per_step * int(steps)

    def projected(self, steps: int) -> bool:
        """Whether the value at ``steps`` is projected (other step count than timed) rather than measured."""
        return int(steps) != int(self.timed_steps)

    def projection(self, steps: int) -> str:
        if not self.projected(steps):
            return f"measured: {self.timed_steps} steps"
        return f"projected from {self.timed_steps} timed steps to {int(steps)}"


# --- Diffusion Inversion stage 1 ---------------------------------------------------------------------------
def random_pixels(batch: int, resolution: int, device, seed: int = 0) -> torch.Tensor:
    """Images in [-1, 1] (the cost of a step does not depend on what the pixels show)."""
    g = torch.Generator(device=device).manual_seed(seed)
    return torch.rand(batch, 3, resolution, resolution, generator=g, device=device) * 2 - 1


def inversion_trainer(bundle, config, batch: int, seed: int = 0, unet_fn=None):
    """The stage-1 ``GroupTrainer`` of ``batch`` random images under ``config`` (an ``InversionConfig``)."""
    from ..inversion import FastPath, GroupTrainer
    from ..inversion.trainer import group_generator

    config = config.resolved(bundle)
    fast = FastPath(config.precision, config.channels_last, config.compile)
    unet_fn = unet_fn or fast.unet_fn(bundle.unet)
    pixels = random_pixels(batch, config.resolution, bundle.device, seed)
    return GroupTrainer(bundle, config, pixels, [""] * batch, group_generator(seed, 0, bundle.device), fast, unet_fn)


@phase("inversion")
def time_inversion(bundle, config, batch: int, steps: int, warmup: int = 1, seed: int = 0) -> dict:
    """Stage 1 on ``batch`` images: ``setup_seconds`` (trainer and VAE posterior, after warm-up steps that run
    once: compilation, kernel choice), ``sec_per_step`` over ``steps`` timed steps, ``warmup_seconds``."""
    from ..inversion import FastPath

    device = bundle.device
    reset_memory(device)
    fast = FastPath(config.precision, config.channels_last, config.compile)
    with synced(device) as warm:
        unet_fn = fast.unet_fn(bundle.unet)
        trainer = inversion_trainer(bundle, config, batch, seed, unet_fn)
        for _ in range(warmup):
            trainer.step()
    with synced(device) as setup:  # a fresh group of images: what every group of a real run pays once
        trainer = inversion_trainer(bundle, config, batch, seed, unet_fn)
    with synced(device) as loop:
        for _ in range(steps):
            losses = trainer.step()
    if not torch.isfinite(losses).all():
        raise ReproError(f"non-finite inversion loss while timing {bundle.name} at batch {batch}")
    return {
        "sec_per_step": loop() / steps,
        "setup_seconds": setup(),
        "warmup_seconds": warm(),
        "timed_steps": int(steps),
        "batch": int(batch),
        "peak_mem_gib": peak_memory_gib(device),
    }


def embedding_cost(timing: Mapping[str, Any]) -> Cost:
    """Seconds per embedding from :func:`time_inversion`: the group's setup and steps shared by its images."""
    batch = timing["batch"]
    return Cost(timing["sec_per_step"] / batch, timing["setup_seconds"] / batch, timing["timed_steps"])


# --- Diffusion Inversion stage 2 and standard text-to-image sampling ---------------------------------------
def _table(bundle, embeddings: torch.Tensor, resolution: int, source_resolution: int | None, step: int):
    from ..inversion.store import EmbeddingTable

    n = len(embeddings)
    return EmbeddingTable(
        embeddings=embeddings,
        labels=torch.arange(n) % 10,
        index=torch.arange(n),
        ids=[str(i) for i in range(n)],
        meta={
            "step": step,
            "config_hash": "timing",
            "resolution": resolution,
            "classes": [str(c) for c in range(10)],
            "source_resolution": source_resolution or resolution,
            "generator": bundle.name,
            "shard": [0, 1],
        },
    )


def random_table(
    bundle,
    n: int,
    resolution: int,
    tokens: int | None = None,
    seed: int = 0,
    source_resolution: int | None = None,
    step: int = 3000,
):
    """``n`` learned-embedding stand-ins (random, the generator's width, ``tokens`` or its whole context)."""
    g = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(n, tokens or bundle.max_tokens, bundle.text_width, generator=g)
    return _table(bundle, embeddings, resolution, source_resolution, step)


def prompt_table(bundle, prompts: Sequence[str], resolution: int, source_resolution: int | None = None):
    """The text encoder's conditioning of ``prompts`` as a table (standard text-to-image sampling)."""
    with torch.no_grad():
        embeddings = bundle.encode_text(list(prompts)).float().cpu()
    return _table(bundle, embeddings, resolution, source_resolution, 0)


def prompts(n: int) -> list[str]:
    """``n`` class prompts, cycling through :data:`PROMPT_CLASSES`."""
    return [PROMPT.format(PROMPT_CLASSES[i % len(PROMPT_CLASSES)]) for i in range(n)]


def _sampler(
    bundle, config, batch: int, resolution: int, text_encoder: bool, seed: int, source_resolution, tokens: int | None
):
    """The stage-2 ``Sampler`` and its plan for ``batch`` images: learned embeddings (random stand-ins), or the
    text encoder's encodings of class prompts with the empty prompt as unconditional input (the standard
    text-to-image setting: no perturbation, no interpolation)."""
    from ..sampling import Sampler, make_plan

    if text_encoder:
        config = replace(config, uncond="empty", noise=(0.0,), interpolate=(0.0,))
        table = prompt_table(bundle, prompts(batch), resolution, source_resolution)
    else:
        table = random_table(bundle, batch, resolution, tokens, seed, source_resolution)
    config = replace(config, batch=batch, resolution=None)
    plan = make_plan(table.labels.numpy(), table.index.numpy(), (table.step,), config)
    return Sampler(bundle, {table.step: table}, config), plan


@phase("sampling")
def time_sampling(
    bundle,
    config,
    batch: int,
    resolution: int,
    text_encoder: bool = False,
    warmup_steps: int = 1,
    seed: int = 0,
    source_resolution: int | None = None,
    tokens: int | None = None,
) -> dict:
    """Stage 2 on ``batch`` images at ``resolution`` with ``config`` (a ``SamplingConfig``; its ``steps`` are
    timed, after a ``warmup_steps`` run): ``encode_seconds`` (the conditioning: the text encoder or the learned
    embeddings of ``tokens`` tokens, and the ``Sampler``), ``generate_seconds`` (``Sampler.generate``: the
    denoising steps and the decode) and ``decode_seconds`` (the decode alone, timed once more). Images are
    written at ``source_resolution`` (default: the generation resolution, no resize)."""
    device = bundle.device
    reset_memory(device)
    if warmup_steps:
        warm, plan = _sampler(
            bundle,
            replace(config, steps=warmup_steps),
            batch,
            resolution,
            text_encoder,
            seed,
            source_resolution,
            tokens,
        )
        warm.generate(plan, np.arange(batch))
    with synced(device) as encode:
        sampler, plan = _sampler(bundle, config, batch, resolution, text_encoder, seed, source_resolution, tokens)
    with synced(device) as generate:
        sampler.generate(plan, np.arange(batch))
    latent = bundle.latent_size(resolution)
    latents = torch.randn(batch, bundle.latent_channels, latent, latent, device=device)
    with torch.no_grad(), synced(device) as decode:
        sampler.decode(latents)
    return {
        "encode_seconds": encode(),
        "generate_seconds": generate(),
        "decode_seconds": decode(),
        "timed_steps": int(config.steps),
        "batch": int(batch),
        "peak_mem_gib": peak_memory_gib(device),
    }


def image_cost(timing: Mapping[str, Any]) -> Cost:
    """Seconds per image from :func:`time_sampling`: conditioning and decode are fixed, the rest per step."""
    batch, steps = timing["batch"], timing["timed_steps"]
    denoise = max(timing["generate_seconds"] - timing["decode_seconds"], 0.0)
    return Cost(denoise / steps / batch, (timing["encode_seconds"] + timing["decode_seconds"]) / batch, steps)


# --- the cases of Figure 4 ---------------------------------------------------------------------------------
STANDARD, NO_TEXT_ENCODER, LEARNED = "standard", "standard without text encoder", "learned embedding"


@dataclass(frozen=True)
class RuntimeCase:
    """One timed configuration of Figure 4 and what it stands for.

    ``standard``: text-to-image sampling from prompts through the text encoder. ``standard without text
    encoder``: the same sampling at a standard case's resolution with the conditioning given (appendix C.1's
    decomposition of the 512 px time). ``learned embedding``: Diffusion Inversion at its target resolution,
    an embedding learned there and sampled from; its embedding learning is timed too.
    """

    generator: str
    resolution: int
    text_encoder: bool
    role: str

    @property
    def learns_embedding(self) -> bool:
        return self.role == LEARNED

    @property
    def label(self) -> str:
        return f"{self.generator} {self.resolution}x{self.resolution} {self.role}"


def runtime_cases(cases: Iterable[Mapping[str, Any]]) -> list[RuntimeCase]:
    """The ``cases`` parameter (``{generator, resolution, text_encoder}`` each) with the role of each case."""
    cases = list(cases)
    parsed = []
    for case in cases:
        keys = set(case)
        if keys != {"generator", "resolution", "text_encoder"}:
            raise ReproError(
                f"timing case {dict(case)} must give exactly generator, resolution and text_encoder "
                "(config/experiments/di_fig4_runtime.yaml)"
            )
        parsed.append((str(case["generator"]), int(case["resolution"]), bool(case["text_encoder"])))
    if len(set(parsed)) != len(parsed):
        raise ReproError(f"the timing cases {cases} list one configuration twice")
    standards = {(g, r) for g, r, te in parsed if te}
    return [
        RuntimeCase(g, r, te, STANDARD if te else NO_TEXT_ENCODER if (g, r) in standards else LEARNED)
        for g, r, te in parsed
    ]


def standard_for(case: RuntimeCase, cases: Sequence[RuntimeCase]) -> RuntimeCase | None:
    """The standard case that ``case`` is compared with: its generator's (highest-resolution) standard case."""
    found = [c for c in cases if c.generator == case.generator and c.role == STANDARD]
    return max(found, key=lambda c: c.resolution) if found else None


# --- DDIS and DeepInversion --------------------------------------------------------------------------------
def time_class_tokens(
    bundle,
    teacher,
    classes: Sequence[str],
    sampler_config,
    cat_config,
    seed: int = 0,
    teacher_labels: Sequence[int] | None = None,
    graphed: bool = False,
) -> dict:
    """CAT learning of ``classes`` (``learn_class_tokens`` with DAG, DDIS's recipe): total ``seconds``,
    ``updates`` (optimiser steps, i.e. epochs run) per class, the learned ``tokens`` and the ``history``.
    ``graphed``: DAG's steps replayed as CUDA graphs."""
    from ..ddis import learn_class_tokens

    with synced(bundle.device) as seconds:
        tokens, history = learn_class_tokens(
            bundle,
            teacher,
            classes,
            sampler_config,
            cat_config,
            use_dag=True,
            teacher_labels=teacher_labels,
            seed=seed,
            progress=False,
            graphed=graphed,
        )
    updates = {c: sum(1 for h in history if h["class"] == c) for c in classes}
    return {"seconds": seconds(), "updates": updates, "tokens": tokens, "history": history}


@phase("sampling")
def time_ddis_sampling(sampler, images: int, batch: int, seed: int = 0, warmup: bool = True) -> dict:
    """``DDISSampler.sample`` of ``images`` images (classes interleaved) in batches of ``batch``, after one
    warm-up batch: total ``seconds`` and ``images``."""
    from ..sampling.datafree import balanced_labels, batch_seed

    device = sampler.bundle.device
    labels = balanced_labels(len(sampler.classes), math.ceil(images / len(sampler.classes)))[:images]

    def run(part: torch.Tensor, k: int) -> None:
        sampler.sample(part.tolist(), torch.Generator(device=device).manual_seed(batch_seed(seed, k)))

    if warmup:
        run(labels[:batch], 0)
    with synced(device) as seconds:
        for k, part in enumerate(labels.split(batch)):
            run(part, k)
    return {"seconds": seconds(), "images": int(images), "batch": int(batch)}


@phase("deepinversion")
def time_deepinversion(
    teacher, resolution: int, config, iterations: int, num_classes: int, seed: int = 0, warmup: int = 1
) -> dict:
    """``invert_batch`` of one batch of ``config.batch_size`` images (labels cycling through ``num_classes``)
    for ``iterations`` timed full-resolution iterations, after ``warmup`` untimed ones: ``sec_per_iteration``
    (of the whole batch) and the batch. A preset's low-resolution stage is not timed."""
    from ..baselines.deepinversion import invert_batch

    device = next(teacher.parameters()).device
    labels = torch.arange(config.batch_size) % int(num_classes)
    if warmup:
        invert_batch(teacher, labels, resolution, replace(config, iterations=warmup, low_res_iterations=0), seed)
    with synced(device) as seconds:
        invert_batch(
            teacher, labels, resolution, replace(config, iterations=int(iterations), low_res_iterations=0), seed
        )
    return {
        "sec_per_iteration": seconds() / iterations,
        "timed_iterations": int(iterations),
        "batch": int(config.batch_size),
    }
