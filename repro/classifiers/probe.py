"""A linear probe: a linear classifier trained on the features of a frozen network (Figure 7a's mini learner).

The paper's few-shot learner is classifier tuning (CT, He et al.): CLIP's image encoder stays frozen and only
the classifier on its features is tuned on the shots (plus synthetic or retrieved images). Offline there is no
CLIP, so the mini scale keeps the recipe's shape, a frozen encoder and a tuned linear head, with the pool-trained
ResNet-18 as the encoder (``backbone: pool-resnet18``, ``tuning: linear``).

- Features: the frozen network's (any ``repro.metrics.FeatureNet``, e.g. ``ClassifierFeatures`` of the pool
  classifier: its penultimate layer), computed once per image set by the metrics layer (``repro.metrics.embed``).
  No augmentation: the encoder is frozen, so each image has one feature vector.
- Head: ``nn.Linear`` on each feature vector scaled to unit root-mean-square (L2-normalised, times sqrt(D)).
  The normalisation uses no statistics of the training set: with one shot per class, per-dimension
  statistics of a handful of vectors would amplify the dimensions that happen to vary little among them.
- Training: the paper's recipe (:class:`~repro.classifiers.recipes.Recipe`: SGD with momentum, lr with
  warm-up and cosine, weight decay) for ``recipe.steps`` steps of ``recipe.batch_size`` features (all of them
  when there are fewer), drawn epoch by epoch from one seeded permutation per epoch; cross-entropy loss.
  Deterministic for a seed on one device.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ReproError
from ..provenance import phase
from .recipes import Recipe
from .train import resolve_device

#: (backbone, tuning) pairs this module runs; the paper's are named so that asking for them says why not.
LEARNERS = {("pool-resnet18", "linear")}
PAPER_LEARNERS = {("clip", "classifier_tuning")}


def check_learner(backbone: str, tuning: str) -> None:
    """Raise a ReproError unless ``(backbone, tuning)`` is a learner this module runs."""
    if (backbone, tuning) in LEARNERS:
        return
    if (backbone, tuning) in PAPER_LEARNERS or backbone == "clip":
        raise ReproError(
            f"few-shot learner backbone={backbone!r}, tuning={tuning!r}: classifier tuning of CLIP "
            "needs CLIP weights, which no offline machine has; the mini scale uses "
            "backbone=pool-resnet18 with tuning=linear (a linear head on the frozen pool classifier)"
        )
    raise ReproError(
        f"unknown few-shot learner backbone={backbone!r}, tuning={tuning!r}; use one of {sorted(LEARNERS)}"
    )


class LinearProbe(nn.Module):
    """``linear(sqrt(D) * features / |features|)``: a linear head on L2-normalised frozen features."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.dim = int(dim)
        self.linear = nn.Linear(self.dim, int(num_classes))

    @property
    def num_classes(self) -> int:
        return self.linear.out_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.dim:
            raise ReproError(
                f"features {tuple(features.shape)} do not fit a probe of {self.dim} dimensions; "
                "embed them with the probe's feature network"
            )
        features = features.to(self.linear.weight)
        return self.linear(F.normalize(features, dim=1) * self.dim**0.5)

    @torch.no_grad()
    def predict(self, features: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """Predicted labels (int64, CPU)."""
        device = self.linear.weight.device
        return torch.cat(
            [
                self(features[i : i + batch_size].to(device)).argmax(dim=1).cpu()
                for i in range(0, len(features), batch_size)
            ]
        )

    def accuracy(self, features: torch.Tensor, labels) -> float:
        """Top-1 accuracy in percent."""
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        if len(labels) != len(features) or len(labels) == 0:
            raise ReproError(f"{len(features)} test features but {len(labels)} labels; need as many, at least one")
        return 100.0 * (self.predict(features) == labels).double().mean().item()


@phase("training")  # as the other classifiers' trainings (repro.experiments.classify)
def fit_linear_probe(
    features: torch.Tensor,
    labels,
    num_classes: int,
    recipe: Recipe,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> LinearProbe:
    """Train a :class:`LinearProbe` on ``features`` [N, D] with int labels in ``0..num_classes - 1``."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if features.dim() != 2 or len(features) != len(labels) or len(labels) == 0:
        raise ReproError(
            f"training features {tuple(features.shape)} and {len(labels)} labels must be [N, D] and N labels, N >= 1"
        )
    if num_classes < 2 or int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ReproError(f"labels must lie in 0..{num_classes - 1} (num_classes={num_classes}, at least 2)")
    device = resolve_device(device)
    features = features.float().to(device)
    labels = labels.to(device)
    torch.manual_seed(seed)
    probe = LinearProbe(features.shape[1], num_classes).to(device)
    optimizer, lr = recipe.optimizer_for(probe.linear.parameters(), device)
    batch = min(int(recipe.batch_size), len(labels))
    generator = torch.Generator().manual_seed(int(seed))
    order, position = torch.randperm(len(labels), generator=generator), 0
    probe.train()
    for step in range(recipe.steps):
        if position + batch > len(order):
            order, position = torch.randperm(len(labels), generator=generator), 0
        rows = order[position : position + batch].to(device)
        position += batch
        lr.fill_(recipe.lr_at(step))
        loss = F.cross_entropy(probe(features[rows]), labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return probe.eval()
