"""Domain Alignment Guidance (DAG): pull the noisy latent towards the teacher's BatchNorm statistics.

At a sampling step t the latent z_t is decoded, the decoded batch goes through the teacher, and

    z_t <- z_t - eta * grad_{z_t} L_BN(D(z_t))

(DDIS, Sec. "Domain Alignment Guidance"); classifier-free guidance then runs on the corrected latent. The paper
decodes z_t itself (``decode="zt"``); ``decode="x0"`` decodes the predicted clean latent instead, with the noise
prediction held fixed (one extra UNet forward, no backward through the UNet), so the gradient reaches z_t
through x0 = (z_t - sqrt(1 - abar_t) eps) / sqrt(abar_t).

L_BN is a statistic of the whole batch, so the gradient each image receives shrinks as 1 / batch size: eta is
tied to the batch size it was chosen for.

The paper gives no eta, and the scale of L_BN differs by orders of magnitude between teachers (a fixed eta of 1
moved a 64 px mini latent by 10^12 with one teacher and by twice its norm with another). ``step_rms`` sets eta
without labels, as a data-free method must: at the first DAG step of each batch (pure noise),
eta = step_rms / RMS(grad L_BN), so that step moves the latent by ``step_rms`` of its unit standard deviation;
eta then stays fixed for the batch's remaining steps, the paper's update unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..classifiers.batchnorm import BatchNormAlignment
from ..classifiers.teacher import mixed_precision, teacher_view
from ..errors import ReproError

DECODE = ("zt", "x0")


@dataclass
class DAGConfig:
    """Step size, the sampling steps it acts on (``start`` <= index < ``stop``; None: to the end), what is decoded
    and the BatchNorm distance (``"squared"``: the paper; ``"l2"``: DeepInversion's)."""

    eta: float = 1.0
    start: int = 0
    stop: int | None = None
    decode: str = "zt"
    norm: str = "squared"
    #: when set, eta is calibrated per batch (see the module docstring) and ``eta`` is ignored
    step_rms: float | None = None

    def __post_init__(self) -> None:
        if self.decode not in DECODE:
            raise ReproError(f"DAG decode must be one of {', '.join(DECODE)}, not {self.decode!r}")
        if self.eta < 0:
            raise ReproError(f"DAG step size eta must be >= 0, not {self.eta}")
        if self.step_rms is not None and self.step_rms <= 0:
            raise ReproError(f"DAG step_rms must be > 0 (a share of the latent's unit std), not {self.step_rms}")

    def applies(self, step_index: int, num_steps: int) -> bool:
        stop = num_steps if self.stop is None else self.stop
        return self.start <= step_index < stop


class DomainAlignmentGuidance:
    """DAG for one generator bundle and one teacher (frozen, eval mode, images in [0, 1])."""

    def __init__(self, bundle, teacher: nn.Module, config: DAGConfig, teacher_resolution: int | None = None):
        self.bundle = bundle
        self.teacher = teacher
        self.config = config
        self.teacher_resolution = teacher_resolution

    def loss(self, latents: torch.Tensor) -> torch.Tensor:
        """L_BN of the decoded latents (differentiable with respect to them)."""
        with BatchNormAlignment(self.teacher, norm=self.config.norm) as bn, mixed_precision(latents.device):
            self.teacher(teacher_view(self.bundle.decode_latents(latents), self.teacher_resolution))
            return bn.loss()

    def correct(
        self,
        latents: torch.Tensor,
        to_decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
        eta: float | None = None,
    ) -> tuple[torch.Tensor, float, float]:
        """One DAG step: ``(z_t - eta * grad L_BN, L_BN before the step, eta)``; ``to_decode`` maps z_t to what is
        decoded (identity for the paper's z_t, the predicted x0 otherwise). ``eta`` None: the configured one, or,
        with ``step_rms``, the one calibrated on this gradient (pass it back for the batch's later steps)."""
        with torch.enable_grad():
            z = latents.detach().float().requires_grad_(True)
            loss = self.loss(to_decode(z) if to_decode is not None else z)
            (grad,) = torch.autograd.grad(loss, z)
        if eta is None:
            eta = self.config.eta if self.config.step_rms is None else calibrated_eta(grad, self.config.step_rms)
        corrected = (z - eta * grad).detach().to(latents.dtype)
        return corrected, float(loss.detach()), eta


def calibrated_eta(grad: torch.Tensor, step_rms: float) -> float:
    """The eta whose step ``eta * grad`` has RMS ``step_rms`` (0 when the gradient vanishes)."""
    rms = float(grad.float().pow(2).mean().sqrt())
    return step_rms / rms if rms > 0 else 0.0
