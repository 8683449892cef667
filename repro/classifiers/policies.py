"""AutoAugment (ImageNet policy), RandAugment (2 ops) and AugMix on GPU batches, with a per-image policy.

The paper used torchvision's ``AutoAugment``, ``RandAugment`` and ``AugMix`` inside a CPU data loader, so every
image drew its own sub-policy, operations and magnitudes. torchvision's transforms applied to a batched tensor
draw once per call, i.e. the same operation for all 128 images of a batch, which changes the augmentation
distribution a batch sees (and correlates its gradients). We keep the per-image draws and stay fast: each
stage applies every operation once, to the images that drew it, with a per-image magnitude (a batch costs at
most 14 operation calls per stage, whatever its size).

The operations and their magnitude tables are torchvision's (``torchvision.transforms.autoaugment``, the
tensor code path: nearest interpolation for AutoAugment/RandAugment, bilinear for AugMix, fill 0); the tests
check every operation against torchvision's ``_apply_op`` image by image. Images are uint8 NCHW.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import autoaugment as tv_autoaugment
from torchvision.transforms import functional as TF
from torchvision.transforms.v2 import functional as TF2

from ..data.gpu import to_device

GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


@dataclass
class Stage:
    """One operation slot per image: ``names[i]`` (None = untouched) with magnitude ``magnitudes[i]``."""

    names: np.ndarray  # object array of str | None
    magnitudes: np.ndarray  # float64


def _inverse_affine(name: str, magnitude: float, height: int, width: int) -> list[float]:
    """torchvision's inverse affine matrix for one geometric operation (its tensor ``_apply_op`` path)."""
    if name in ("ShearX", "ShearY"):
        shear = math.degrees(math.atan(magnitude))
        # _apply_op shears about the top-left corner: center [0, 0] in pixels, i.e. (-w/2, -h/2) from the middle
        return TF._get_inverse_affine_matrix(
            [-0.5 * width, -0.5 * height], 0.0, [0.0, 0.0], 1.0, [shear, 0.0] if name == "ShearX" else [0.0, shear]
        )
    if name in ("TranslateX", "TranslateY"):
        shift = [float(int(magnitude)), 0.0] if name == "TranslateX" else [0.0, float(int(magnitude))]
        return TF._get_inverse_affine_matrix([0.0, 0.0], 0.0, shift, 1.0, [0.0, 0.0])
    # F.rotate passes -angle to the affine helper
    return TF._get_inverse_affine_matrix([0.0, 0.0], -magnitude, [0.0, 0.0], 1.0, [0.0, 0.0])


def _affine_batch(images: torch.Tensor, matrices: list[list[float]], mode: str) -> torch.Tensor:
    """Per-image inverse affine matrices applied in one grid_sample (torchvision's grid, zero fill)."""
    n, _, h, w = images.shape
    theta = to_device(matrices, images.device, torch.float32).view(n, 2, 3)
    xs = torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, steps=w, device=images.device)
    ys = torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, steps=h, device=images.device)
    base = torch.stack([xs.expand(h, w), ys.unsqueeze(1).expand(h, w), torch.ones(h, w, device=images.device)], -1)
    scale = to_device([0.5 * w, 0.5 * h], images.device, torch.float32)
    grid = base.view(1, h * w, 3).expand(n, -1, -1).bmm(theta.transpose(1, 2) / scale).view(n, h, w, 2)
    out = F.grid_sample(images.float(), grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out.round().to(torch.uint8)


def _blend(images: torch.Tensor, other: torch.Tensor, factors: np.ndarray) -> torch.Tensor:
    # Both weights are rounded to float32 from double, as torchvision's Python-float arithmetic does, so the
    # truncation to uint8 lands on the same integers.
    weights = to_device(np.stack([factors, 1.0 - factors]), images.device, torch.float32)
    ratio, rest = weights.view(2, -1, 1, 1, 1)
    return (ratio * images + rest * other).clamp(0, 255).to(torch.uint8)


def apply_op(images: torch.Tensor, name: str, magnitudes, interpolation: str = "nearest") -> torch.Tensor:
    """Operation ``name`` of torchvision's AutoAugment family on uint8 images, one magnitude per image."""
    if name == "Identity":
        return images
    mags = np.asarray(magnitudes, dtype=np.float64).reshape(-1)
    if name in GEOMETRIC:
        h, w = images.shape[-2:]
        return _affine_batch(images, [_inverse_affine(name, m, h, w) for m in mags], interpolation)
    factors = 1.0 + mags
    if name == "Brightness":
        return _blend(images, torch.zeros_like(images), factors)
    if name == "Color":
        return _blend(images, TF.rgb_to_grayscale(images), factors)
    if name == "Contrast":
        mean = TF.rgb_to_grayscale(images).float().mean(dim=(-3, -2, -1), keepdim=True)
        return _blend(images, mean, factors)
    if name == "Sharpness":
        if min(images.shape[-2:]) <= 2:
            return images
        # at factor 0 torchvision's sharpness is exactly its blurred ('degenerate') image: the blend partner
        return _blend(images, TF.adjust_sharpness(images, 0.0), factors)
    if name == "Posterize":
        keep = to_device(256 - 2 ** (8 - mags.astype(np.int64)), images.device, torch.uint8)
        return images & keep.view(-1, 1, 1, 1)
    if name == "Solarize":
        threshold = to_device(mags, images.device, torch.float32).view(-1, 1, 1, 1)
        return torch.where(images >= threshold, 255 - images, images)
    if name == "AutoContrast":
        return TF.autocontrast(images)
    if name == "Equalize":
        return TF2.equalize(images)
    if name == "Invert":
        return TF2.invert(images)
    raise ValueError(f"unknown augmentation operation {name!r}")


def apply_stage(images: torch.Tensor, stage: Stage, interpolation: str) -> torch.Tensor:
    """Each image gets its own operation: one batched call per distinct operation name."""
    out = images.clone()
    names = stage.names
    for name in {n for n in names if n is not None and n != "Identity"}:
        idx = np.flatnonzero(names == name)
        index = to_device(idx, images.device)
        out[index] = apply_op(images[index], name, stage.magnitudes[idx], interpolation)
    return out


def _signed(rng: np.random.Generator, magnitudes: np.ndarray, signed: np.ndarray) -> np.ndarray:
    return np.where(signed & (rng.integers(2, size=len(magnitudes)) == 1), -magnitudes, magnitudes)


class _Space:
    """torchvision's magnitude table for one policy: name -> (magnitude bins, signed)."""

    def __init__(self, space: dict):
        self.names = list(space)
        self.bins = {k: v[0].double().numpy() for k, v in space.items()}
        self.is_signed = {k: bool(v[1]) for k, v in space.items()}

    def draw(self, rng: np.random.Generator, n: int, bin_index) -> Stage:
        """Uniform operation per image; magnitude bin ``bin_index`` (an int or one per image); random sign."""
        names = np.array(self.names, dtype=object)[rng.integers(len(self.names), size=n)]
        bins = np.broadcast_to(np.asarray(bin_index), (n,))
        mags = np.array([self.bins[k][b] if self.bins[k].ndim else 0.0 for k, b in zip(names, bins)])
        signed = np.array([self.is_signed[k] for k in names], dtype=bool)
        return Stage(names, _signed(rng, mags, signed))


class AutoAugment:
    """torchvision's AutoAugment, ImageNet policy (25 sub-policies of two operations), drawn per image."""

    interpolation = "nearest"

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        reference = tv_autoaugment.AutoAugment(tv_autoaugment.AutoAugmentPolicy.IMAGENET)
        self.policies = reference.policies
        self._reference = reference

    def plan(self, n: int, size: tuple[int, int]) -> list[Stage]:
        space = _Space(self._reference._augmentation_space(10, size))
        chosen = self.rng.integers(len(self.policies), size=n)
        stages = []
        for slot in range(2):
            draws = self.rng.random(n)
            names = np.empty(n, dtype=object)
            mags = np.zeros(n)
            signed = np.zeros(n, dtype=bool)
            for i, policy in enumerate(chosen):
                name, probability, bin_index = self.policies[policy][slot]
                if draws[i] <= probability:
                    names[i] = name
                    mags[i] = space.bins[name][bin_index] if bin_index is not None else 0.0
                    signed[i] = space.is_signed[name]
            stages.append(Stage(names, _signed(self.rng, mags, signed)))
        return stages

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        for stage in self.plan(len(images), tuple(images.shape[-2:])):
            images = apply_stage(images, stage, self.interpolation)
        return images


class RandAugment:
    """torchvision's RandAugment: ``num_ops`` operations of 14 (Identity included), magnitude bin 9 of 31."""

    interpolation = "nearest"

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_bins: int = 31, seed: int = 0):
        self.num_ops, self.magnitude, self.num_bins = num_ops, magnitude, num_bins
        self.rng = np.random.default_rng(seed)
        self._reference = tv_autoaugment.RandAugment(num_ops, magnitude, num_bins)

    def plan(self, n: int, size: tuple[int, int]) -> list[Stage]:
        space = _Space(self._reference._augmentation_space(self.num_bins, size))
        return [space.draw(self.rng, n, self.magnitude) for _ in range(self.num_ops)]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        for stage in self.plan(len(images), tuple(images.shape[-2:])):
            images = apply_stage(images, stage, self.interpolation)
        return images


@dataclass
class AugMixPlan:
    original_weight: np.ndarray  # [n]    m_0 ~ Beta(alpha, alpha)
    chain_weights: np.ndarray  # [n, width]  Dirichlet(alpha) * (1 - m_0)
    stages: list[Stage]  # depth-many stages over the width * n stacked chain images (chain-major)


class AugMix:
    """torchvision's AugMix with its defaults (severity 3, 3 chains of depth 1-3, alpha 1, all operations).

    Per image: m ~ Beta(1, 1) weighs the original, Dirichlet(1, 1, 1) * (1 - m) the three chains; every chain
    draws its own depth, operations, magnitude bins (below ``severity``) and signs. The weighted sum is cast
    back to uint8 by truncation, as torchvision does.
    """

    interpolation = "bilinear"

    def __init__(self, severity: int = 3, width: int = 3, depth: int = -1, alpha: float = 1.0, seed: int = 0):
        self.severity, self.width, self.depth, self.alpha = severity, width, depth, alpha
        self.rng = np.random.default_rng(seed)
        self._reference = tv_autoaugment.AugMix(severity, width, depth, alpha)

    def plan(self, n: int, size: tuple[int, int]) -> AugMixPlan:
        space = _Space(self._reference._augmentation_space(10, size))
        m = self.rng.dirichlet([self.alpha] * 2, size=n)
        weights = self.rng.dirichlet([self.alpha] * self.width, size=n) * m[:, 1:2]
        depths = np.full(self.width * n, self.depth) if self.depth > 0 else self.rng.integers(1, 4, size=self.width * n)
        stages = []
        for level in range(depths.max()):
            stage = space.draw(self.rng, self.width * n, self.rng.integers(self.severity, size=self.width * n))
            stage.names[depths <= level] = None
            stages.append(stage)
        return AugMixPlan(m[:, 0], weights, stages)

    def apply(self, images: torch.Tensor, plan: AugMixPlan) -> torch.Tensor:
        n = len(images)
        chains = images.repeat(self.width, 1, 1, 1)
        for stage in plan.stages:
            chains = apply_stage(chains, stage, self.interpolation)
        original = to_device(plan.original_weight, images.device, torch.float32)
        weights = to_device(plan.chain_weights.T, images.device, torch.float32)
        mix = original.view(n, 1, 1, 1) * images
        mix = mix + (weights.reshape(self.width, n, 1, 1, 1) * chains.view(self.width, *images.shape)).sum(0)
        return mix.to(torch.uint8)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.apply(images, self.plan(len(images), tuple(images.shape[-2:])))
