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

On a GPU a DAG step is hundreds of small kernels (the decoder's and the teacher's forward and backward, a BatchNorm
hook per layer), and the host launching them one by one leaves the GPU waiting: while the class tokens of
ddis_efficiency learned alone on an H100, it ran at 32 % (results/bench/mini_dag_b316581f7d2a_run1). ``graphed``
replays L_BN and its gradient at z_t as one CUDA graph per batch shape
(:class:`~repro.classifiers.graphed.GraphedStep`), as DeepInversion's updates are; only for ``decode="zt"``, whose
graph reads nothing but z_t.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..classifiers.batchnorm import BatchNormAlignment
from ..classifiers.graphed import GraphedStep
from ..classifiers.teacher import mixed_precision, teacher_view
from ..errors import ReproError

DECODE = ("zt", "x0")
#: batch shapes whose graphed DAG step a guidance keeps: each holds its own GPU memory and one of the device's pool
#: streams, and a run of class tokens meets a new shape as its classes stop
GRAPHED_SHAPES = 4


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
    """DAG for one generator bundle and one teacher (frozen, eval mode, images in [0, 1]). ``graphed``: replay L_BN
    and its gradient as a CUDA graph per batch shape (module docstring; off unless asked, until timed on a GPU)."""

    def __init__(
        self,
        bundle,
        teacher: nn.Module,
        config: DAGConfig,
        teacher_resolution: int | None = None,
        graphed: bool = False,
    ):
        if graphed and (torch.device(bundle.device).type != "cuda" or config.decode != "zt"):
            raise ReproError(
                f"a graphed DAG step needs a CUDA generator and decode='zt' (here {bundle.device}, "
                f"decode={config.decode!r}); leave graphed off"
            )
        self.bundle = bundle
        self.teacher = teacher
        self.config = config
        self.teacher_resolution = teacher_resolution
        self.graphed = graphed
        self._graphs: dict[tuple[int, ...], _GraphedGradient] = {}

    def loss(self, latents: torch.Tensor, graphed: bool = False) -> torch.Tensor:
        """L_BN of the decoded latents (differentiable with respect to them); ``graphed``: under capture."""
        with BatchNormAlignment(self.teacher, norm=self.config.norm) as bn, mixed_precision(latents.device, graphed):
            self.teacher(teacher_view(self.bundle.decode_latents(latents), self.teacher_resolution))
            return bn.loss()

    def gradient(
        self, latents: torch.Tensor, to_decode: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L_BN, its gradient with respect to latents)`` in fp32, detached; graphed, the replay's own tensors,
        which the next call with the same shape overwrites."""
        if self.graphed and to_decode is None:
            shape = tuple(latents.shape)
            graph = self._graphs.pop(shape, None)
            if graph is None:
                graph = _GraphedGradient(self, shape, latents.device)
                if len(self._graphs) >= GRAPHED_SHAPES:  # the least recently used gives back its memory and stream
                    self._graphs.pop(next(iter(self._graphs)))
            self._graphs[shape] = graph  # most recently used last
            return graph(latents)
        with torch.enable_grad():
            z = latents.detach().float().requires_grad_(True)
            loss = self.loss(to_decode(z) if to_decode is not None else z)
            (grad,) = torch.autograd.grad(loss, z)
        return loss.detach().float(), grad

    def correct(
        self,
        latents: torch.Tensor,
        to_decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
        eta: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """One DAG step: ``(z_t - eta * grad L_BN, L_BN before the step, eta)``; ``to_decode`` maps z_t to what is
        decoded (identity for the paper's z_t, the predicted x0 otherwise). L_BN is a 0-dim device tensor: reading
        it waits for the GPU, so a sampling loop keeps it and reads every step's at its end. ``eta`` None: the
        configured one, or, with ``step_rms``, the one calibrated on this gradient (pass it back for the batch's
        later steps)."""
        loss, grad = self.gradient(latents, to_decode)
        if eta is None:
            eta = self.config.eta if self.config.step_rms is None else calibrated_eta(grad, self.config.step_rms)
        corrected = (latents.detach().float() - eta * grad).to(latents.dtype)
        return corrected, loss.clone(), eta


class _GraphedGradient:
    """L_BN and its gradient at latents of one shape, read from a static tensor by a :class:`GraphedStep`."""

    def __init__(self, dag: DomainAlignmentGuidance, shape: tuple[int, ...], device: torch.device):
        self.dag = dag
        self.latents = torch.zeros(shape, device=device)
        self.step = GraphedStep(self._work, torch.device(device))

    def _work(self) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            z = self.latents.detach().requires_grad_(True)
            loss = self.dag.loss(z, graphed=True)
            (grad,) = torch.autograd.grad(loss, z)
        return loss.detach().float(), grad

    def __call__(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.latents.copy_(latents)
        return self.step()


def calibrated_eta(grad: torch.Tensor, step_rms: float) -> float:
    """The eta whose step ``eta * grad`` has RMS ``step_rms`` (0 when the gradient vanishes)."""
    rms = float(grad.float().pow(2).mean().sqrt())
    return step_rms / rms if rms > 0 else 0.0
