"""DeepInversion (Yin et al., CVPR 2020): data-free images by optimising pixels against a BatchNorm teacher.

The loss of one batch with target labels y, following the authors' code (NVlabs/DeepInversion):

    main_loss_multiplier * CE(f(x_jit), y)
    + r_feature * sum_l w_l (||mu_l - running_mean_l||_2 + ||var_l - running_var_l||_2)   (w_1 = first_bn_multiplier)
    + tv_l1 * TV_l1(x_jit) + tv_l2 * TV_l2(x_jit) + l2 * mean_i ||x_jit,i||_2

with x_jit the image after a random roll by up to ``jitter`` pixels and a random horizontal flip. As in their
code the optimised tensor lives in the teacher's normalised space (started from N(0, 1), priors computed
there) and is clipped back to the valid pixel range after every step; the teacher itself takes [0, 1] images,
so the tensor is de-normalised before the forward pass. The BatchNorm term is ``BatchNormAlignment`` with the
un-squared L2 norm (DDIS's DAG uses the squared one).

Presets are the authors' settings:
- ``imagenet``: their ``setting_id=1`` (2k iterations at full resolution), Adam lr 0.25 with betas (0.5, 0.9)
  and a cosine schedule after 100 warm-up iterations, r_feature 0.01, first-layer multiplier 10, tv_l2 1e-4,
  l2 1e-5, jitter 30 px at 224 px, flips, clipping, batch 84 (their README's command);
- ``imagenet-multires``: their ``setting_id=0``: 2k iterations on 2x average-pooled images, then 1k at full;
- ``cifar10``: their CIFAR-10 "paper parameters": 2k iterations, Adam lr 0.05 (default betas, constant), r_feature
  10, tv_l2 2.5e-5, no l2, jitter 2 px, no flips, no clipping, batch 256.
``preset_for(resolution)`` picks cifar10 at <= 32 px, else an imagenet setting with the jitter scaled to the
resolution (30 px at 224 -> 9 px at 64); ``repro ddis deepinversion`` overrides a preset's iterations, batch size,
lr and r_feature with ``--deepinversion-iterations``, ``--deepinversion-batch``, ``--deepinversion-lr`` and
``--deepinversion-r-feature``, and every setting used is recorded in the synthetic set's ``index.json``.

Plug-In Inversion (Ghiasi et al., 2022) is not run: its settings (the ColorShift ranges, the centering and zoom
schedules, the ensemble size and the learning rate) are in neither the DDIS paper nor any source this project
can read offline, and re-inventing them would be a different baseline. Its rows stay empty with this reason.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..classifiers.batchnorm import BatchNormAlignment
from ..classifiers.graphed import GraphedStep
from ..classifiers.teacher import mixed_precision
from ..data.gpu import to_device
from ..errors import ReproError
from ..provenance import phase
from ..sampling.datafree import write_dataset
from ..sampling.dataset import SyntheticDataset

PLUG_IN_INVERSION_NOT_RUN = (
    "Plug-In Inversion is not run: its hyper-parameters (ColorShift, centering/zoom schedules, ensemble size, "
    "learning rate) are not available offline; see repro/baselines/deepinversion.py"
)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DeepInversionConfig:
    iterations: int = 2000
    low_res_iterations: int = 0  # iterations on 2x average-pooled images before the full-resolution ones
    lr: float = 0.25
    betas: tuple[float, float] = (0.5, 0.9)
    cosine: bool = True
    warmup: int = 100
    r_feature: float = 0.01
    first_bn_multiplier: float = 10.0
    tv_l1: float = 0.0
    tv_l2: float = 1e-4
    l2: float = 1e-5
    main_loss_multiplier: float = 1.0
    jitter: int = 30
    flip: bool = True
    clip: bool = True
    batch_size: int = 84


PRESETS = {
    "imagenet": DeepInversionConfig(),
    "imagenet-multires": DeepInversionConfig(iterations=1000, low_res_iterations=2000),
    "cifar10": DeepInversionConfig(
        lr=0.05,
        betas=(0.9, 0.999),
        cosine=False,
        r_feature=10.0,
        first_bn_multiplier=1.0,
        tv_l2=2.5e-5,
        l2=0.0,
        jitter=2,
        flip=False,
        clip=False,
        batch_size=256,
    ),
}


def preset_for(resolution: int, name: str | None = None) -> DeepInversionConfig:
    """The authors' setting for a teacher resolution (or the preset ``name``), jitter scaled to the resolution."""
    if name is None:
        name = "cifar10" if resolution <= 32 else "imagenet"
    if name not in PRESETS:
        raise ReproError(f"unknown DeepInversion preset {name!r}; use one of {', '.join(PRESETS)}")
    config = PRESETS[name]
    if name.startswith("imagenet"):
        config = replace(config, jitter=max(1, round(config.jitter * resolution / 224)))
    return config


def input_normalization(teacher: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The (mean, std) the teacher normalises its [0, 1] input with: the first sub-module holding 3-element
    ``mean`` and ``std`` tensors (the suite's classifiers carry one); ImageNet's if there is none."""
    for module in teacher.modules():
        mean, std = getattr(module, "mean", None), getattr(module, "std", None)
        if isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor) and mean.numel() == std.numel() == 3:
            return mean.detach().float().reshape(3), std.detach().float().reshape(3)
    return torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)


def total_variation(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The authors' (TV_l1, TV_l2): differences to the right, down and both diagonals; l1 as mean absolute
    differences, l2 as the (un-squared) norm of each difference tensor over the whole batch."""
    diffs = (
        x[:, :, :, :-1] - x[:, :, :, 1:],
        x[:, :, :-1, :] - x[:, :, 1:, :],
        x[:, :, 1:, :-1] - x[:, :, :-1, 1:],
        x[:, :, :-1, :-1] - x[:, :, 1:, 1:],
    )
    return sum(d.abs().mean() for d in diffs), sum(torch.linalg.vector_norm(d) for d in diffs)


def roll_and_flip(x: torch.Tensor, shift: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """``torch.roll(x, shift, dims=(2, 3))``, then ``torch.flip(dims=(3,))`` where ``flip``, for square images, with
    the shifts (rows, columns) and the flip in device tensors, so a CUDA graph can replay it with new ones."""
    size = x.shape[-1]
    index = torch.arange(size, device=x.device)
    rows, cols = (index - shift[0]) % size, (index - shift[1]) % size
    cols = torch.where(flip, cols.flip(0), cols)
    return x.index_select(2, rows).index_select(3, cols)


def _cosine_lr(base: float, warmup: int, total: int, it: int) -> float:
    if it < warmup:
        return base * (it + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (it - warmup) / max(1, total - warmup))) * base


class _Iteration:
    """One DeepInversion update of ``inputs`` at one resolution: jitter, the teacher's forward with the BatchNorm
    hooks, the loss, its backward, Adam and the clip, with the jitter, flip and learning rate read from device
    tensors.

    Eager, those are some 1,500 small kernels an iteration, and the host launching them left an H100 idle most of
    the time (results/bench/profiles_8884ae4c3b1f/). So on a GPU the whole update is a
    :class:`~repro.classifiers.graphed.GraphedStep`, captured once as a CUDA graph after warm-up updates and
    replayed; an iteration then only writes its shifts, flip and learning rate into the graph's input tensors. The
    roll and flip are one index_select per axis (the same values as ``torch.roll`` and ``torch.flip``, with the
    shift a tensor), so the eager path on the CPU runs the same operations the GPU replays.
    """

    def __init__(self, teacher, bn, inputs, labels, norm, config: DeepInversionConfig, downsample: int, graphed: bool):
        self.teacher, self.bn, self.inputs, self.labels, self.config = teacher, bn, inputs, labels, config
        self.mean, self.std, self.low, self.high = norm
        self.downsample, self.graphed = downsample, graphed
        device = inputs.device
        self.shift = torch.zeros(2, dtype=torch.long, device=device)
        self.flip = torch.zeros((), dtype=torch.bool, device=device)
        # the authors start a fresh optimiser (and schedule) at each resolution; a capturable Adam reads its
        # learning rate from a device tensor
        self.lr = torch.tensor(config.lr, device=device) if graphed else config.lr
        self.optimizer = torch.optim.Adam([inputs], lr=self.lr, betas=config.betas, eps=1e-8, capturable=graphed)
        self.replay = GraphedStep(self._update, device) if graphed else None

    def _update(self) -> None:
        config = self.config
        self.optimizer.zero_grad(set_to_none=True)
        x = F.avg_pool2d(self.inputs, self.downsample) if self.downsample > 1 else self.inputs
        x = roll_and_flip(x, self.shift, self.flip)
        with mixed_precision(self.inputs.device, graphed=self.graphed):
            logits = self.teacher(x * self.std + self.mean).float()
        tv_l1, tv_l2 = total_variation(x)
        loss = (
            config.main_loss_multiplier * F.cross_entropy(logits, self.labels)
            + config.r_feature * self.bn.loss()
            + config.tv_l1 * tv_l1
            + config.tv_l2 * tv_l2
            + config.l2 * torch.linalg.vector_norm(x.flatten(1), dim=1).mean()
        )
        loss.backward()
        self.optimizer.step()
        if config.clip:
            with torch.no_grad():
                self.inputs.copy_(torch.maximum(torch.minimum(self.inputs, self.high), self.low))

    def __call__(self, lr: float, shift: tuple[int, int], flip: bool) -> None:
        self.shift.copy_(to_device(shift, self.shift.device))  # queued, not waited for: see to_device
        self.flip.fill_(flip)
        if self.replay is None:
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self._update()
        else:
            self.lr.fill_(lr)
            self.replay()


def invert_batch(
    teacher: nn.Module,
    labels: torch.Tensor,
    resolution: int,
    config: DeepInversionConfig,
    seed: int = 0,
    progress: bool = False,
    graphed: bool | None = None,
) -> torch.Tensor:
    """One batch of DeepInversion images for ``labels``: float NCHW in [0, 1] (on the teacher's device).
    ``graphed``: replay each update as a CUDA graph (:class:`_Iteration`; default: on a GPU)."""
    device = next(teacher.parameters()).device
    graphed = device.type == "cuda" if graphed is None else graphed
    labels = labels.to(device)
    mean, std = (t.to(device).view(1, 3, 1, 1) for t in input_normalization(teacher))
    norm = (mean, std, (0 - mean) / std, (1 - mean) / std)
    generator = torch.Generator(device=device).manual_seed(seed)
    rng = random.Random(seed)
    inputs = torch.randn((len(labels), 3, resolution, resolution), generator=generator, device=device)
    inputs.requires_grad_(True)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in teacher.modules())
    weights = [config.first_bn_multiplier] + [1.0] * (n_bn - 1)
    stages = [(2, config.low_res_iterations), (1, config.iterations)]
    with BatchNormAlignment(teacher, norm="l2", layer_weights=weights) as bn:
        for downsample, iterations in stages:
            if iterations == 0:
                continue
            update = _Iteration(teacher, bn, inputs, labels, norm, config, downsample, graphed)
            limit = config.jitter // downsample
            for it in tqdm(range(iterations), desc=f"DeepInversion 1/{downsample}", disable=not progress):
                lr = _cosine_lr(config.lr, config.warmup, iterations, it) if config.cosine else config.lr
                shift = (rng.randint(-limit, limit), rng.randint(-limit, limit))
                update(lr, shift, config.flip and rng.random() > 0.5)
    return (inputs.detach() * std + mean).clamp(0, 1)


@phase("deepinversion")
def deepinversion_dataset(
    teacher: nn.Module,
    classes: Sequence[str],
    per_class: int,
    out: str | Path,
    resolution: int,
    config: DeepInversionConfig | None = None,
    seed: int = 0,
    progress: bool = True,
) -> SyntheticDataset:
    """Write ``per_class`` DeepInversion images of every class as a synthetic dataset (shards, resumable)."""
    config = config or preset_for(resolution)

    def make_batch(labels: torch.Tensor, batch_seed: int) -> torch.Tensor:
        return invert_batch(teacher, labels, resolution, config, seed=batch_seed)

    settings = {
        "method": "deepinversion",
        "generator": None,
        "teacher": getattr(teacher, "fingerprint", None),
        **vars(config),
    }
    return write_dataset(make_batch, classes, per_class, config.batch_size, out, resolution, settings, seed, progress)
