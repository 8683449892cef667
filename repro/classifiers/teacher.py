"""The pre-trained classifier that DDIS and DeepInversion draw their knowledge from, and how images reach it.

Every classifier of the suite takes float images NCHW in [0, 1] and normalises inside, so the generator's
decoded images ([-1, 1]) only need rescaling and, when the teacher was trained at another resolution (the
CIFAR-10 ResNet-56 at 32 px under a 64 px generator), a differentiable resize.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ReproError

#: published teachers the suite does not train: (dataset, arch) -> their file in the data folder, or torchvision's
#: ImageNet weights (paper scale)
THIRD_PARTY_TEACHERS = {
    ("cifar10", "cifar_resnet56"): "models/akamaster-cifar10-resnet56-4bfd9763.th",
    ("imagenet", "resnet34"): "torchvision:resnet34",
}
#: architectures of the teachers the suite trains itself (the ``teacher_<dataset>`` assets)
TRAINED_TEACHER_ARCHS = ("resnet34",)


def prepare_teacher(model: nn.Module, device: str | torch.device) -> nn.Module:
    """Frozen, in eval mode (BatchNorm uses its running statistics) and on ``device``."""
    model = model.to(device).eval().requires_grad_(False)
    if torch.device(device).type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def load_teacher(path: str | Path, device: str | torch.device = "cpu", arch: str | None = None) -> nn.Module:
    """A teacher from disk: a classifier saved by the suite or a third-party akamaster CIFAR ResNet (``*.th``);
    ``arch``, when given, must be the checkpoint's architecture."""
    from .models import load_classifier

    if not str(path).startswith("torchvision:") and not Path(path).is_file():
        raise ReproError(
            f"teacher checkpoint {path} does not exist; train one with `repro train`, point to "
            "../shared/data/models/akamaster-cifar10-resnet56-4bfd9763.th, or name torchvision's "
            "ImageNet ResNet-34 as torchvision:resnet34"
        )
    return prepare_teacher(load_classifier(path, arch=arch), device)


def teacher_checkpoint(run, dataset: str, arch: str) -> str | Path:
    """Where an experiment's ``{dataset: arch}`` teacher comes from: a published classifier
    (:data:`THIRD_PARTY_TEACHERS`: a file of the data folder, or torchvision's weights) or the scale's
    ``teacher_<dataset>`` asset (``repro train --save``), for :func:`load_teacher` (which checks ``arch``).

    ``run`` is the notebook's ``ExperimentRun`` (its ``data_file`` and ``assets``).
    """
    source = THIRD_PARTY_TEACHERS.get((dataset, arch))
    if source is not None:
        return source if source.startswith("torchvision:") else run.data_file(source)
    if arch not in TRAINED_TEACHER_ARCHS:
        known = ", ".join(f"{d}: {a}" for d, a in THIRD_PARTY_TEACHERS)
        raise ReproError(
            f"no {arch} teacher of {dataset}: the suite trains {', '.join(TRAINED_TEACHER_ARCHS)} "
            f"teachers (asset teacher_<dataset>) and uses the published {known}; fix `teachers` in "
            "the experiment's config"
        )
    return run.assets.classifier(f"teacher_{dataset}")


def teacher_view(images: torch.Tensor, resolution: int | None = None) -> torch.Tensor:
    """Decoded images in [-1, 1] -> the teacher's input: [0, 1], resized to ``resolution`` (differentiable).

    No clamping: a clamp would zero the gradient wherever a noisy decoded latent leaves the range.
    """
    images = images * 0.5 + 0.5
    if resolution is not None and images.shape[-1] != resolution:
        images = F.interpolate(
            images, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False
        )
    return images


def mixed_precision(device: torch.device, graphed: bool = False):
    """bf16 autocast on GPU (the speed path); plain precision elsewhere, so CPU tests stay exact. ``graphed``: the
    work is being captured as a CUDA graph, so autocast keeps no cache of cast weights (it would go stale)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=not graphed)
    return contextlib.nullcontext()
