"""The augmentations of Table 4 (appendix B.2.3) as batch operations on the GPU.

Every augmentation maps ``(images, targets) -> (images, targets)``: images float NCHW in [0, 1], targets soft
labels [N, classes] (one-hot for plain data), so mixing methods and the loss share one path (the soft cross
entropy of a MixUp target equals the paper's ``lam * CE(y1) + (1 - lam) * CE(y2)``). They run after the
default random crop and flip, which the GPU batches apply.

- ``autoaugment``, ``randaugment``, ``augmix``: torchvision's policies drawn per image (see :mod:`.policies`).
- ``cutout``: B.2.3 says "a random square region, sized at 1/8 of the input image". We read it as the
  square's side = 1/8 of the image side (4 px at 32 px, 12 px at 96 px), set to 0 (black) in [0, 1] pixel
  space and lying wholly inside the image, so every image loses exactly side^2 pixels. The other reading
  (1/8 of the area: side = H / sqrt(8), 34 px at 96 px) is ``CutOut(side_fraction=8 ** -0.5)``.
- ``mixup``: lam ~ Beta(1, 1) per batch, blended with a permutation of the batch (Zhang et al.).
- ``cutmix``: lam ~ Beta(1, 1); a box of area (1 - lam) at a uniform centre, clipped to the image, filled
  from a permuted batch; the label weight is the pasted area ratio (Yun et al.).
- ``meada``: a training procedure rather than a batch map; see :mod:`.meada`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.gpu import to_device
from ..errors import ReproError
from .policies import AugMix, AutoAugment, RandAugment

AUGMENTATIONS = ("default", "autoaugment", "randaugment", "cutout", "mixup", "cutmix", "augmix", "meada")


class PolicyAugment:
    """A uint8 policy (AutoAugment, RandAugment, AugMix) on float [0, 1] batches."""

    def __init__(self, policy):
        self.policy = policy

    def __call__(self, images: torch.Tensor, targets: torch.Tensor):
        as_uint8 = (images * 255).round_().clamp_(0, 255).to(torch.uint8)
        return self.policy(as_uint8).to(images.dtype) / 255, targets


class CutOut:
    def __init__(self, side_fraction: float = 1 / 8, seed: int = 0):
        if not 0 < side_fraction <= 1:
            raise ReproError(f"CutOut side fraction {side_fraction} must lie in (0, 1]")
        self.side_fraction = side_fraction
        self.rng = np.random.default_rng(seed)

    def side(self, height: int, width: int) -> int:
        return max(1, round(self.side_fraction * min(height, width)))

    def __call__(self, images: torch.Tensor, targets: torch.Tensor):
        n, _, h, w = images.shape
        side = self.side(h, w)
        corners = to_device(
            np.stack([self.rng.integers(0, h - side + 1, n), self.rng.integers(0, w - side + 1, n)], 1), images.device
        )
        rows = torch.arange(h, device=images.device).view(1, h, 1)
        cols = torch.arange(w, device=images.device).view(1, 1, w)
        top, left = corners[:, 0].view(n, 1, 1), corners[:, 1].view(n, 1, 1)
        inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
        return images.masked_fill(inside.unsqueeze(1), 0.0), targets


class MixUp:
    def __init__(self, alpha: float = 1.0, seed: int = 0):
        self.alpha = alpha
        self.rng = np.random.default_rng(seed)

    def __call__(self, images: torch.Tensor, targets: torch.Tensor):
        lam = float(self.rng.beta(self.alpha, self.alpha))
        perm = to_device(self.rng.permutation(len(images)), images.device)
        return images * lam + images[perm] * (1 - lam), targets * lam + targets[perm] * (1 - lam)


class CutMix:
    def __init__(self, alpha: float = 1.0, seed: int = 0):
        self.alpha = alpha
        self.rng = np.random.default_rng(seed)

    def box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) of a box with area ~ (1 - lam) HW, centre uniform, clipped."""
        cut = np.sqrt(1.0 - self.rng.beta(self.alpha, self.alpha))
        ch, cw = int(height * cut), int(width * cut)
        cy, cx = self.rng.integers(height), self.rng.integers(width)
        return (
            int(np.clip(cy - ch // 2, 0, height)),
            int(np.clip(cy + ch // 2, 0, height)),
            int(np.clip(cx - cw // 2, 0, width)),
            int(np.clip(cx + cw // 2, 0, width)),
        )

    def __call__(self, images: torch.Tensor, targets: torch.Tensor):
        n, _, h, w = images.shape
        top, bottom, left, right = self.box(h, w)
        perm = to_device(self.rng.permutation(n), images.device)
        pasted = (bottom - top) * (right - left) / (h * w)
        out = images.clone()
        out[:, :, top:bottom, left:right] = images[perm, :, top:bottom, left:right]
        return out, targets * (1 - pasted) + targets[perm] * pasted


def batch_augmentation(name: str, seed: int = 0, cutout_side: float = 1 / 8):
    """The batch map for augmentation ``name``; None for ``default`` (crop and flip only) and ``meada``."""
    if name not in AUGMENTATIONS:
        raise ReproError(f"unknown augmentation {name!r}; choose one of {', '.join(AUGMENTATIONS)}")
    return {
        "default": lambda: None,
        "meada": lambda: None,
        "autoaugment": lambda: PolicyAugment(AutoAugment(seed=seed)),
        "randaugment": lambda: PolicyAugment(RandAugment(seed=seed)),
        "augmix": lambda: PolicyAugment(AugMix(seed=seed)),
        "cutout": lambda: CutOut(cutout_side, seed=seed),
        "mixup": lambda: MixUp(seed=seed),
        "cutmix": lambda: CutMix(seed=seed),
    }[name]()
