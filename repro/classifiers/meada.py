"""ME-ADA: maximum-entropy adversarial data augmentation (Zhao et al., NeurIPS 2020), as in Table 4.

A minimax procedure run ``phases`` (K) times: after every ``interval`` share of the step budget (T_min of
minimisation), a maximisation stage turns every image of the current training set into an adversarial copy by
``ascent_steps`` (T_max) steps of gradient ascent on

    CE(f(x), y) + eta * H(softmax f(x)) - gamma * || g(x) - g(x0) ||^2 (mean squared, penultimate features g)

with the model in eval mode, and appends the copies (clamped, as uint8) to the training set, which therefore
doubles at each phase. Settings are the authors' CIFAR ones (``run_main_cifar10.sh``): K = 2 phases after 10 %
and 20 % of training, 15 ascent steps, gamma = 1, eta = 10, ascent lr 20 in their [-1, 1] input scaling, which
is 5 in our [0, 1] pixel scaling; the ascent runs on batches of the training batch size, as theirs (the loss
is a batch mean, so the batch size sets the step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .mixing import TrainingData


@dataclass(frozen=True)
class MeAda:
    phases: int = 2
    interval: float = 0.1
    ascent_steps: int = 15
    step_size: float = 5.0
    gamma: float = 1.0
    eta: float = 10.0

    def phase_steps(self, total_steps: int) -> list[int]:
        """Steps before which a maximisation phase runs."""
        return [s for k in range(self.phases) if 0 < (s := round(self.interval * total_steps * (k + 1))) < total_steps]

    def ascend(self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Adversarial versions of ``images`` (float [0, 1]); gradients reach the images only."""
        with torch.no_grad():
            anchor = model.features(images).float()
        x = images.clone().requires_grad_(True)
        for _ in range(self.ascent_steps):
            features = model.features(x)
            logits = model.head(features).float()
            log_probs = F.log_softmax(logits, dim=1)
            entropy = -(log_probs.exp() * log_probs).sum(dim=1).mean()
            objective = (
                F.cross_entropy(logits, labels) + self.eta * entropy - self.gamma * F.mse_loss(features.float(), anchor)
            )
            (grad,) = torch.autograd.grad(objective, x)
            x = (x + self.step_size * grad).detach().requires_grad_(True)
        return x.detach().clamp_(0, 1)

    def generate(
        self, model: torch.nn.Module, data: TrainingData, batch_size: int, device: torch.device, speed
    ) -> tuple[np.ndarray, np.ndarray]:
        """Adversarial uint8 copies [N, H, W, 3] of every training image, and their labels."""
        from .train import autocast

        (source,) = data.sources
        labels_all = np.asarray(source.labels, dtype=np.int64)
        model.eval()
        out = []
        for start in range(0, len(labels_all), batch_size):
            batch = torch.as_tensor(source.images[start : start + batch_size], device=device)
            images = batch.permute(0, 3, 1, 2).float().div_(255)
            if speed.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            labels = torch.as_tensor(labels_all[start : start + batch_size], device=device)
            with autocast(device, speed):
                adversarial = self.ascend(model, images, labels)
            out.append((adversarial * 255).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
        return np.concatenate(out), labels_all
