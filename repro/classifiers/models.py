"""The classifiers of both papers, each taking float images NCHW in [0, 1] and normalising inside.

Real, synthetic and VAE-decoded images therefore share one input path, and a saved classifier carries its own
normalisation. Every model is a :class:`Classifier`: ``body`` (image -> penultimate feature vector) and ``head``
(one ``nn.Linear``), so penultimate features (ME-ADA's semantic distance, feature metrics) are one call away.

Fitting torchvision's ImageNet architectures (total stride 32) to small inputs. The rule follows the paper's
ResNet-18 stems: total stride 8 below 64 px (32 px -> 4x4 final maps, as CIFAR ResNets), 16 from 64 to 127 px
and torchvision's own 32 from 128 px:

=================  ==================================  ==========================  ===============
arch               < 64 px (stride 8)                  64-127 px (stride 16)       >= 128 px (32)
=================  ==================================  ==========================  ===============
resnet18/34        3x3 stride-1 stem, no max-pool      7x7 stride-2, no max-pool   torchvision
mobilenet_v2       stem and first 24-ch block stride 1 stem stride 1               torchvision
shufflenet_v2      conv1 stride 1, no max-pool         no max-pool                 torchvision
efficientnet_b0    stem and first 24-ch block stride 1 stem stride 1               torchvision
vgg16_bn           torchvision's 13 conv-BN-ReLU and 5 max-pools at every size, then global average pooling
                   and one linear layer (the authors' CIFAR-style VGG), not the 4096-wide ImageNet head
=================  ==================================  ==========================  ===============

``shufflenet_v2`` is the x1.0 width (the authors' code used x0.5). ``cifar_resnet20/56`` are He et al.'s
CIFAR ResNets with option-A shortcuts in akamaster's layout (see :mod:`.cifar_resnet`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import ReproError
from ..files import check_finite, read_damageable
from ..fingerprint import file_hash

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ARCHS = (
    "resnet18",
    "resnet34",
    "vgg16_bn",
    "mobilenet_v2",
    "shufflenet_v2",
    "efficientnet_b0",
    "cifar_resnet20",
    "cifar_resnet56",
)

CHECKPOINT_FORMAT = "repro-classifier/1"


class Classifier(nn.Module):
    """``head(body((x - mean) / std))`` for ``x`` float NCHW in [0, 1].

    ``mean``/``std`` are non-persistent buffers (they travel with ``.to()`` but stay out of the state dict, so
    third-party state dicts load unchanged); :func:`save_classifier` stores them beside the weights.
    """

    def __init__(
        self,
        body: nn.Module,
        head: nn.Linear,
        *,
        arch: str,
        resolution: int,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ):
        super().__init__()
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ReproError(f"normalisation mean={mean} std={std} must be 3 values each, std positive")
        self.body = body
        self.head = head
        self.arch = arch
        self.resolution = int(resolution)
        self.num_classes = head.out_features
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate features [N, D] of images in [0, 1]."""
        return self.body((images - self.mean) / self.std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def total_stride(resolution: int) -> int:
    """Downsampling of the fitted ImageNet architectures at ``resolution`` (see the module docstring)."""
    return 8 if resolution < 64 else 16 if resolution < 128 else 32


def build_model(
    arch: str,
    num_classes: int,
    resolution: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Classifier:
    """A randomly initialised classifier of ``arch`` for ``resolution`` px inputs in [0, 1]."""
    if arch not in ARCHS:
        raise ReproError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if num_classes < 2:
        raise ReproError(f"a classifier needs at least 2 classes, got num_classes={num_classes}")
    if resolution < 8:
        raise ReproError(f"resolution {resolution} px is too small; images must be at least 8 px")
    if arch.startswith("cifar_resnet"):
        from .cifar_resnet import cifar_resnet

        body, head = cifar_resnet(int(arch.removeprefix("cifar_resnet")), num_classes)
    else:
        body, head = _TORCHVISION[arch](num_classes, total_stride(resolution))
    return Classifier(body, head, arch=arch, resolution=resolution, mean=mean, std=std)


def _unstride(conv: nn.Conv2d) -> None:
    """Turn a stride-2 convolution into stride 1 (its padding keeps the size): one downsampling less."""
    assert conv.stride == (2, 2), conv
    conv.stride = (1, 1)


def _resnet(depth: int):
    def build(num_classes: int, stride: int):
        from torchvision import models

        net = getattr(models, f"resnet{depth}")(num_classes=num_classes)
        if stride == 8:
            net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        if stride <= 16:
            net.maxpool = nn.Identity()
        head, net.fc = net.fc, nn.Identity()
        return net, head

    return build


def _vgg16_bn(num_classes: int, stride: int):
    from torchvision import models

    net = models.vgg16_bn()
    head = nn.Linear(512, num_classes)
    nn.init.normal_(head.weight, 0, 0.01)
    nn.init.zeros_(head.bias)
    return nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten()), head


def _first_stride2_convs(module: nn.Module, count: int) -> list[nn.Conv2d]:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    return convs[:count]


def _mobilenet_v2(num_classes: int, stride: int):
    from torchvision import models

    net = models.mobilenet_v2(num_classes=num_classes)
    # Module order is execution order here: the stem, then the first 24-channel block's depthwise conv.
    for conv in _first_stride2_convs(net.features, {8: 2, 16: 1, 32: 0}[stride]):
        _unstride(conv)
    dropout, head = net.classifier
    return nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), dropout), head


def _shufflenet_v2(num_classes: int, stride: int):
    from torchvision import models

    net = models.shufflenet_v2_x1_0(num_classes=num_classes)
    if stride == 8:
        _unstride(net.conv1[0])
    if stride <= 16:
        net.maxpool = nn.Identity()
    body = nn.Sequential(
        net.conv1, net.maxpool, net.stage2, net.stage3, net.stage4, net.conv5, nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )
    return body, net.fc


def _efficientnet_b0(num_classes: int, stride: int):
    from torchvision import models

    net = models.efficientnet_b0(num_classes=num_classes)
    for conv in _first_stride2_convs(net.features, {8: 2, 16: 1, 32: 0}[stride]):
        _unstride(conv)
    dropout, head = net.classifier
    return nn.Sequential(net.features, net.avgpool, nn.Flatten(), dropout), head


_TORCHVISION = {
    "resnet18": _resnet(18),
    "resnet34": _resnet(34),
    "vgg16_bn": _vgg16_bn,
    "mobilenet_v2": _mobilenet_v2,
    "shufflenet_v2": _shufflenet_v2,
    "efficientnet_b0": _efficientnet_b0,
}


def save_classifier(model: Classifier, path: str | os.PathLike, **meta) -> Path:
    """Weights plus what rebuilds the model (arch, classes, resolution, normalisation); written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": CHECKPOINT_FORMAT,
        "arch": model.arch,
        "num_classes": model.num_classes,
        "resolution": model.resolution,
        "mean": model.mean.flatten().tolist(),
        "std": model.std.flatten().tolist(),
        "meta": meta,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)
    return path


def load_classifier(path: str | os.PathLike, arch: str | None = None) -> Classifier:
    """A classifier saved by :func:`save_classifier`, or a third-party akamaster CIFAR ResNet checkpoint.

    ``arch``, when given, must match the checkpoint's architecture. ``torchvision:<arch>`` is torchvision's
    ImageNet classifier with its official weights (:mod:`.pretrained`).
    """
    from .pretrained import PREFIX, load_pretrained

    if str(path).startswith(PREFIX):
        return load_pretrained(str(path))
    model = _load_file(Path(path), arch)
    model.fingerprint = file_hash(path)  # what the resume guards of tokens and synthetic sets compare
    return model


def _load_file(path: Path, arch: str | None) -> Classifier:
    blob = read_damageable(
        path,
        lambda p: torch.load(p, map_location="cpu", weights_only=True),
        "classifier checkpoint",
        "save it again with `repro train --save`, or copy it again",
    )
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise ReproError(f"{path} is not a classifier checkpoint (no state_dict); save one with `repro train --save`")
    if blob.get("format") != CHECKPOINT_FORMAT:
        from .cifar_resnet import load_cifar_resnet

        return load_cifar_resnet(path, arch=arch)
    if arch is not None and arch != blob["arch"]:
        raise ReproError(f"{path} holds a {blob['arch']} but --arch {arch} was asked; pass --arch {blob['arch']}")
    model = build_model(blob["arch"], blob["num_classes"], blob["resolution"], blob["mean"], blob["std"])
    load_state(model, blob["state_dict"], path)
    model.meta = blob.get("meta", {})
    return model


def load_state(model: nn.Module, state: dict, source: str | os.PathLike) -> None:
    """``load_state_dict`` whose mismatch names the checkpoint and the first differing keys."""
    mine = model.state_dict()
    missing = [k for k in mine if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in mine]
    wrong = [k for k in state if k in mine and tuple(state[k].shape) != tuple(mine[k].shape)]
    if missing or unexpected or wrong:
        raise ReproError(
            f"{source} does not fit a {getattr(model, 'arch', type(model).__name__)}: "
            f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, "
            f"{len(wrong)} of another shape {wrong[:3]}; check --arch and the checkpoint"
        )
    for key, tensor in state.items():
        check_finite(
            tensor, f"{source} (tensor {key})", "the training diverged or the file was altered; use another checkpoint"
        )
    model.load_state_dict(state, strict=False)
