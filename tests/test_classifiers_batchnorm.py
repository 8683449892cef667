"""L_BN, the BatchNorm statistics loss shared by DDIS's DAG and DeepInversion: its zero and its gradient."""

import pytest
import torch
from torch import nn

from repro.classifiers.batchnorm import BatchNormAlignment
from repro.errors import ReproError


def tiny_bn_teacher(num_classes: int = 3, seed: int = 0, dtype=torch.float32) -> nn.Module:
    """A small BatchNorm CNN on [0, 1] images with non-trivial running statistics, frozen in eval mode
    (SiLU, not ReLU: smooth, so finite differences have no kinks to trip on)."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.SiLU(),
        nn.Conv2d(6, 8, 3, stride=2, padding=1),
        nn.BatchNorm2d(8),
        nn.SiLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes),
    ).to(dtype)
    for bn in (model[1], model[4]):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return model.eval().requires_grad_(False)


def match_running_stats(model: nn.Module, x: torch.Tensor) -> None:
    """Set every BatchNorm's running statistics to the batch statistics of ``x`` (biased variance)."""
    n_per_channel = {}
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.momentum = 1.0
        bn.register_forward_hook(lambda m, i, o: n_per_channel.__setitem__(m, i[0].numel() // i[0].shape[1]))
    model.train()
    with torch.no_grad():
        model(x)
    model.eval()
    for bn, n in n_per_channel.items():  # PyTorch stores the unbiased variance; L_BN uses the biased one
        bn.running_var.mul_((n - 1) / n)


@pytest.mark.parametrize("norm", ["squared", "l2"])
def test_loss_is_zero_when_batch_statistics_equal_running_ones(norm):
    teacher = tiny_bn_teacher(dtype=torch.float64)
    x = torch.rand(5, 3, 12, 12, dtype=torch.float64)
    with BatchNormAlignment(teacher, norm=norm) as bn:
        teacher(x)
        assert bn.loss().item() > 1e-3  # random running statistics: far from this batch
        match_running_stats(teacher, x)
        teacher(x)
        assert bn.loss().item() == pytest.approx(0.0, abs=1e-9)
        teacher(torch.rand(5, 3, 12, 12, dtype=torch.float64))
        assert bn.loss().item() > 1e-6  # another batch is not at the minimum


@pytest.mark.parametrize("norm", ["squared", "l2"])
def test_gradient_matches_finite_differences(norm):
    teacher = tiny_bn_teacher(dtype=torch.float64)
    x = torch.rand(4, 3, 10, 10, dtype=torch.float64, requires_grad=True)
    with BatchNormAlignment(teacher, norm=norm, layer_weights=[3.0, 1.0]) as bn:

        def loss(inp):
            teacher(inp)
            return bn.loss()

        (grad,) = torch.autograd.grad(loss(x), x)
        h = 1e-6
        g = torch.Generator().manual_seed(1)
        for flat in torch.randint(0, x.numel(), (12,), generator=g).tolist():
            e = torch.zeros_like(x).view(-1)
            e[flat] = h
            e = e.view_as(x)
            numeric = (loss(x.detach() + e) - loss(x.detach() - e)).item() / (2 * h)
            assert grad.view(-1)[flat].item() == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_squared_norm_is_the_papers_formula():
    teacher = tiny_bn_teacher(dtype=torch.float64)
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    inputs = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: inputs.append((m, i[0])))
        for m in teacher.modules()
        if isinstance(m, nn.BatchNorm2d)
    ]
    with BatchNormAlignment(teacher) as bn:
        teacher(x)
        got = bn.loss().item()
    for h in hooks:
        h.remove()
    expected = sum(
        ((f.mean((0, 2, 3)) - m.running_mean) ** 2).sum()
        + ((f.permute(1, 0, 2, 3).reshape(f.shape[1], -1).var(1, unbiased=False) - m.running_var) ** 2).sum()
        for m, f in inputs
    ).item()
    assert got == pytest.approx(expected, rel=1e-12)


def test_bad_inputs_fail_with_a_clear_message():
    with pytest.raises(ReproError, match="no BatchNorm2d"):
        BatchNormAlignment(nn.Linear(2, 2))
    with pytest.raises(ReproError, match="unknown BatchNorm distance"):
        BatchNormAlignment(tiny_bn_teacher(), norm="kl")
    with pytest.raises(ReproError, match="2 BatchNorm layers"):
        BatchNormAlignment(tiny_bn_teacher(), layer_weights=[1.0])
