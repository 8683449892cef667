"""ME-ADA: maximum-entropy adversarial data augmentation (Zhao et al., NeurIPS 2020), as in Table 4.

A minimax procedure run ``phases`` (K) times: after every ``interval`` share of the step budget (T_min of
minimisation), a maximisation stage turns every image of the current training set into an adversarial copy by
``ascent_steps`` (T_max) steps of gradient ascent on

    CE(f(x), y) + eta * H(softmax f(x)) - gamma * || g(x) - g(x0) ||^2 (mean squared, penultimate features g)

with the model in eval mode, and appends the copies (clamped, as uint8) to the training set, which therefore
doubles at each phase. Settings are the authors' CIFAR ones (``run_main_cifar10.sh``): K = 2 phases after 10 %
and 20 % of training, 15 ascent steps, gamma = 1, eta = 10, ascent lr 20 in their [-1, 1] input scaling, which
is 5 in our [0, 1] pixel scaling; each image takes the step of its batch of the training batch size, as theirs
(the loss is a batch mean, so the batch size sets the step). Several such batches ascend in one call
(:data:`ASCENT_IMAGES`): the model is in eval mode, so images do not interact, and each image's terms weigh 1 / its
own batch's size, which gives every image the gradient its batch alone would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .mixing import TrainingData

#: images per ascent call, in whole training batches: one batch of 128 at a time leaves a GPU mostly idle, and
#: more than a few batches hold their activations in memory that the jobs sharing the GPU need
ASCENT_IMAGES = 512


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

    def ascend(
        self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Adversarial versions of ``images`` (float [0, 1]); gradients reach the images only. ``weights``: each
        image's weight in the objective, 1 / the size of the batch it belongs to (default: one batch, its mean)."""
        if weights is None:
            weights = torch.full((len(images),), 1.0 / len(images), device=images.device)
        with torch.no_grad():
            anchor = model.features(images).float()
        x = images.clone().requires_grad_(True)
        for _ in range(self.ascent_steps):
            features = model.features(x)
            logits = model.head(features).float()
            log_probs = F.log_softmax(logits, dim=1)
            entropy = -(log_probs.exp() * log_probs).sum(dim=1)
            drift = (features.float() - anchor).square().flatten(1).mean(dim=1)
            per_image = F.cross_entropy(logits, labels, reduction="none") + self.eta * entropy - self.gamma * drift
            (grad,) = torch.autograd.grad((weights * per_image).sum(), x)
            x = (x + self.step_size * grad).detach().requires_grad_(True)
        return x.detach().clamp_(0, 1)

    def generate(
        self, model: torch.nn.Module, data: TrainingData, batch_size: int, device: torch.device, speed
    ) -> tuple[np.ndarray, np.ndarray]:
        """Adversarial uint8 copies [N, H, W, 3] of every training image, and their labels."""
        from .train import autocast

        (source,) = data.sources
        labels_all = np.asarray(source.labels, dtype=np.int64)
        total = len(labels_all)
        chunk = batch_size * max(1, ASCENT_IMAGES // batch_size)
        model.eval()
        out = []
        for start in range(0, total, chunk):
            batch = torch.as_tensor(source.images[start : start + chunk], device=device)
            images = batch.permute(0, 3, 1, 2).float().div_(255)
            if speed.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            labels = torch.as_tensor(labels_all[start : start + chunk], device=device)
            # the set's last batch may be short: its images take larger steps, as alone
            first = torch.arange(start, start + len(labels), device=device) // batch_size * batch_size
            weights = 1.0 / ((first + batch_size).clamp(max=total) - first).float()
            with autocast(device, speed):
                adversarial = self.ascend(model, images, labels, weights)
            out.append((adversarial * 255).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
        return np.concatenate(out), labels_all
