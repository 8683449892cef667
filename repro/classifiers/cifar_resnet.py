"""He et al.'s CIFAR ResNets (3 stages of 16/32/64 channels, option-A shortcuts) in akamaster's layout.

Parameter names match the third-party checkpoints in ``../shared/data/models`` (``conv1``, ``bn1``,
``layer{1,2,3}.{i}.{conv,bn}{1,2}``, ``linear``), so :func:`load_cifar_resnet` loads them after mapping
``module.`` -> our ``body.`` and ``linear`` -> our ``head``. akamaster's ``trainer.py`` normalises with the
ImageNet mean and std, so the loaded :class:`Classifier` does the same.
"""

from __future__ import annotations

import os
import re

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ReproError
from ..files import read_damageable
from .models import IMAGENET_MEAN, IMAGENET_STD, Classifier, load_state


class ZeroPadShortcut(nn.Module):
    """Option A: subsample by 2 and zero-pad the new channels (no parameters)."""

    def __init__(self, extra_channels: int):
        super().__init__()
        self.extra = extra_channels // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.extra, self.extra))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ZeroPadShortcut(planes - in_planes) if stride != 1 or in_planes != planes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNetBody(nn.Module):
    def __init__(self, blocks_per_stage: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(blocks_per_stage):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return out.mean(dim=(2, 3))


def cifar_resnet(depth: int, num_classes: int) -> tuple[nn.Module, nn.Linear]:
    """Body and head of the CIFAR ResNet with ``depth`` = 6n + 2 layers (20, 32, 44, 56, 110, ...)."""
    if depth < 8 or (depth - 2) % 6:
        raise ReproError(f"a CIFAR ResNet has 6n+2 layers (20, 32, 44, 56, 110); got depth {depth}")
    head = nn.Linear(64, num_classes)
    nn.init.kaiming_normal_(head.weight)
    return CifarResNetBody((depth - 2) // 6), head


def load_cifar_resnet(path: str | os.PathLike, arch: str | None = None) -> Classifier:
    """A third-party akamaster checkpoint (dict with a ``module.``-prefixed ``state_dict``) as a Classifier.

    Depth and number of classes are read from the weights; ``arch`` (e.g. ``cifar_resnet56``), when given, must
    match. A checkpoint of any other architecture raises :class:`ReproError`.
    """
    blob = read_damageable(
        path,
        lambda p: torch.load(p, map_location="cpu", weights_only=True),
        "CIFAR ResNet checkpoint",
        "copy it again from the data folder",
    )
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ReproError(f"{path} holds no state dict of tensors; expected akamaster's {{'state_dict': ...}}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"layer1\.(\d+)\.", k))}
    if "linear.weight" not in state or "conv1.weight" not in state or not blocks:
        raise ReproError(
            f"{path} is not a CIFAR ResNet (He et al., akamaster layout) checkpoint: keys such as "
            f"{list(state)[:3]} lack conv1/layer1/linear; load it with the architecture it was trained as"
        )
    found = f"cifar_resnet{6 * (max(blocks) + 1) + 2}"
    if arch is not None and arch != found:
        raise ReproError(f"{path} holds a {found} but {arch} was asked; pass --arch {found}")
    body, head = cifar_resnet(6 * (max(blocks) + 1) + 2, state["linear.weight"].shape[0])
    model = Classifier(body, head, arch=found, resolution=32, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    mapped = {
        ("head." + k.removeprefix("linear.")) if k.startswith("linear.") else "body." + k: v for k, v in state.items()
    }
    load_state(model, mapped, path)
    return model
