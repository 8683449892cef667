"""How far a batch's feature statistics are from a classifier's BatchNorm running statistics.

The running mean and variance of every BatchNorm layer summarise the teacher's training data, so matching them
is the data-free signal of both DDIS's Domain Alignment Guidance and DeepInversion's feature regulariser:

    L_BN = sum_l w_l * (d(mu_l(x), running_mean_l) + d(var_l(x), running_var_l))

where mu_l and var_l are the per-channel mean and biased variance of layer l's INPUT over the batch and the
spatial positions. ``norm`` picks d: ``"squared"`` is the squared L2 distance of the DDIS paper, ``"l2"`` the
plain L2 norm of DeepInversion's code. ``layer_weights`` gives w_l (DeepInversion weights the first layer more).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ReproError

NORMS = ("squared", "l2")


class BatchNormAlignment:
    """Forward hooks on every ``BatchNorm2d`` of ``model``; ``loss()`` gives L_BN of the model's last forward.

    Use as a context manager (the hooks are removed on exit)::

        with BatchNormAlignment(teacher) as bn:
            logits = teacher(images)
            loss = bn.loss()

    The model must be in eval mode: BatchNorm then normalises with (and never updates) its running statistics.
    """

    def __init__(self, model: nn.Module, norm: str = "squared", layer_weights: Sequence[float] | None = None):
        if norm not in NORMS:
            raise ReproError(f"unknown BatchNorm distance {norm!r}; use one of {', '.join(NORMS)}")
        self.layers = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        if not self.layers:
            raise ReproError(
                f"{type(model).__name__} has no BatchNorm2d layer, so it has no running statistics to align to; "
                "DAG and DeepInversion need a BatchNorm classifier (ResNet, VGG-BN, MobileNet ...)"
            )
        weights = [1.0] * len(self.layers) if layer_weights is None else [float(w) for w in layer_weights]
        if len(weights) != len(self.layers):
            raise ReproError(f"{len(weights)} layer weights given for {len(self.layers)} BatchNorm layers")
        self.norm = norm
        self.weights = weights
        self.terms: list[torch.Tensor | None] = [None] * len(self.layers)
        self._handles = [model.register_forward_pre_hook(self._clear)]
        self._handles += [layer.register_forward_hook(self._hook(i)) for i, layer in enumerate(self.layers)]

    def _clear(self, module, inputs) -> None:
        # each forward of the whole model starts a fresh measurement
        self.terms = [None] * len(self.layers)

    def _hook(self, index: int):
        def measure(module: nn.BatchNorm2d, inputs, output) -> None:
            x = inputs[0]
            # statistics in at least fp32 (the features may be bf16 under autocast; float64 stays float64)
            x = x.to(torch.promote_types(x.dtype, torch.float32))
            var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
            d_mean = mean - module.running_mean.to(x.dtype)
            d_var = var - module.running_var.to(x.dtype)
            if self.norm == "squared":
                term = d_mean.pow(2).sum() + d_var.pow(2).sum()
            else:
                term = torch.linalg.vector_norm(d_mean) + torch.linalg.vector_norm(d_var)
            self.terms[index] = term

        return measure

    def loss(self) -> torch.Tensor:
        """L_BN of the last forward pass (a scalar that carries the gradient to the model's input)."""
        if any(term is None for term in self.terms):
            raise ReproError("BatchNormAlignment.loss() called before a forward pass of the hooked model")
        return sum(w * term for w, term in zip(self.weights, self.terms))

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> BatchNormAlignment:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
