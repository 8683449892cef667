"""Knowledge distillation (Hinton et al.): a student learns a teacher's softened outputs (DDIS's evaluation).

    loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))

KL is averaged over the batch; T^2 keeps the gradient scale independent of T. Data-free distillation (DDIS,
DeepInversion) has no trustworthy labels: alpha = 0, the KD term alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ReproError
from .train import Speed, TrainReport, resolve_device, train_classifier


def _check(temperature: float, alpha: float) -> None:
    if temperature <= 0:
        raise ReproError(f"distillation temperature must be positive, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ReproError(f"distillation alpha must lie in [0, 1], got {alpha}")


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
    targets: torch.Tensor | None = None,
    alpha: float = 0.0,
) -> torch.Tensor:
    """Hinton's loss; ``targets`` are labels [N] or soft labels [N, C], needed when ``alpha`` > 0."""
    _check(temperature, alpha)
    log_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits.float() / temperature, dim=1)
    kd = F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature**2
    if alpha == 0.0:
        return kd
    if targets is None:
        raise ReproError("alpha > 0 mixes in the cross entropy with labels, but no labels were given")
    if targets.ndim == 1:
        ce = F.cross_entropy(student_logits.float(), targets)
    else:
        ce = -(targets * F.log_softmax(student_logits.float(), dim=1)).sum(dim=1).mean()
    return alpha * ce + (1 - alpha) * kd


class Distillation:
    """A training objective ``(logits, images, targets) -> loss`` that runs the frozen teacher on the batch.

    The teacher sees the same [0, 1] images (resized to its own resolution when it differs from the
    student's) and runs inside the captured training step.
    """

    def __init__(self, teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.0):
        _check(temperature, alpha)
        self.teacher = teacher.eval().requires_grad_(False)
        self.temperature, self.alpha = temperature, alpha

    def __call__(self, logits: torch.Tensor, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        resolution = getattr(self.teacher, "resolution", images.shape[-1])
        if images.shape[-1] != resolution:
            images = F.interpolate(
                images, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False
            )
        with torch.no_grad():
            teacher_logits = self.teacher(images)
        return kd_loss(logits, teacher_logits, self.temperature, targets, self.alpha)


def distil(
    teacher: nn.Module,
    student: nn.Module,
    data,
    recipe,
    *,
    temperature: float = 4.0,
    alpha: float = 0.0,
    device=None,
    **train_options,
) -> TrainReport:
    """Train ``student`` on ``data`` to match ``teacher`` (same classes); returns the training report."""
    if getattr(teacher, "num_classes", None) != getattr(student, "num_classes", None):
        raise ReproError(
            f"teacher predicts {getattr(teacher, 'num_classes', '?')} classes but the student "
            f"{getattr(student, 'num_classes', '?')}; build the student with the teacher's classes"
        )
    device = resolve_device(device)
    teacher.to(device)
    speed = train_options.get("speed") or Speed.auto(device)
    if speed.channels_last:
        teacher.to(memory_format=torch.channels_last)
    return train_classifier(
        student, data, recipe, objective=Distillation(teacher, temperature, alpha), device=device, **train_options
    )
