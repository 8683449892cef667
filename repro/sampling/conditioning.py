"""The three formulas of section 3.2: classifier-free guidance, Gaussian perturbation, interpolation."""

from __future__ import annotations

import torch


def _per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.device, like.dtype).view(-1, *([1] * (like.dim() - 1)))


def guided_prediction(cond: torch.Tensor, uncond: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """eps_hat = (1 + w) * eps(z, c) - w * eps(z, u), with one ``w`` per sample."""
    w = _per_sample(w, cond)
    return (1 + w) * cond - w * uncond


def perturbed_condition(
    source: torch.Tensor, partner: torch.Tensor, alpha: torch.Tensor, lam: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """c_hat = alpha * c_partner + (1 - alpha) * c_source + lambda * eps, per sample.

    The paper writes alpha * c1 + (1 - alpha) * c2 and calls alpha the interpolation strength, used at small
    values (0.1); as in the authors' code, alpha is the weight of the partner, so alpha = 0 keeps the source.
    """
    alpha, lam = _per_sample(alpha, source), _per_sample(lam, source)
    return alpha * partner + (1 - alpha) * source + lam * noise
