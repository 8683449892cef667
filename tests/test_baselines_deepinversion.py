"""DeepInversion: its BatchNorm term and image priors against hand computations, and the optimisation itself."""

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from repro.baselines import deepinversion as di
from repro.baselines.deepinversion import (
    DeepInversionConfig,
    deepinversion_dataset,
    input_normalization,
    invert_batch,
    preset_for,
    total_variation,
)
from repro.classifiers.batchnorm import BatchNormAlignment
from repro.errors import ReproError
from repro.provenance import phase_seconds
from repro.sampling.datafree import read_dataset

from .test_classifiers_batchnorm import tiny_bn_teacher


class Normalized(nn.Module):
    """A teacher as the suite builds them: [0, 1] images in, normalisation inside."""

    def __init__(self, net, mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010)):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.net = net

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


def test_batchnorm_term_equals_a_hand_computation():
    teacher = tiny_bn_teacher(dtype=torch.float64)
    x = torch.rand(4, 3, 10, 10, dtype=torch.float64)
    # by hand, layer by layer: ||running_var - var||_2 + ||running_mean - mean||_2, first layer x 10
    h, expected, first = x, 0.0, True
    for layer in teacher:
        if isinstance(layer, nn.BatchNorm2d):
            mean = h.mean(dim=(0, 2, 3))
            var = h.transpose(0, 1).reshape(h.shape[1], -1).var(dim=1, unbiased=False)
            term = torch.norm(layer.running_var - var, 2) + torch.norm(layer.running_mean - mean, 2)
            expected += (10.0 if first else 1.0) * term.item()
            first = False
        h = layer(h)
    with BatchNormAlignment(teacher, norm="l2", layer_weights=[10.0, 1.0]) as bn:
        teacher(x)
        assert bn.loss().item() == pytest.approx(expected, rel=1e-12)


def test_total_variation_equals_a_hand_computation():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float64).reshape(2, 3, 4, 5).sin()
    l1 = l2 = 0.0
    for dy, dx in ((0, 1), (1, 0), (1, -1), (1, 1)):  # right, down and the two diagonals
        diffs = []
        for i in range(4):
            for j in range(5):
                if 0 <= i + dy < 4 and 0 <= j + dx < 5:
                    diffs.append(x[:, :, i, j] - x[:, :, i + dy, j + dx])
        d = torch.stack(diffs)
        l1 += d.abs().mean().item()
        l2 += d.pow(2).sum().sqrt().item()
    got_l1, got_l2 = total_variation(x)
    assert got_l1.item() == pytest.approx(l1, rel=1e-12)
    assert got_l2.item() == pytest.approx(l2, rel=1e-12)


def test_presets_follow_the_authors_settings():
    cifar = preset_for(32)
    assert (cifar.lr, cifar.r_feature, cifar.jitter, cifar.flip, cifar.batch_size) == (0.05, 10.0, 2, False, 256)
    imagenet = preset_for(224)
    assert (imagenet.lr, imagenet.betas, imagenet.first_bn_multiplier, imagenet.jitter) == (0.25, (0.5, 0.9), 10.0, 30)
    assert preset_for(64).jitter == 9
    assert preset_for(64, "imagenet-multires").low_res_iterations == 2000
    with pytest.raises(ReproError, match="unknown DeepInversion preset"):
        preset_for(64, "svhn")


def test_normalization_is_read_from_the_teacher():
    mean, std = input_normalization(Normalized(tiny_bn_teacher()))
    assert torch.allclose(mean, torch.tensor([0.4914, 0.4822, 0.4465]))
    mean, _ = input_normalization(tiny_bn_teacher())
    assert torch.allclose(mean, torch.tensor(di.IMAGENET_MEAN))


def test_roll_and_flip_is_torch_roll_then_flip_with_the_shifts_in_tensors():
    x = torch.arange(2 * 3 * 7 * 7, dtype=torch.float64).reshape(2, 3, 7, 7).requires_grad_(True)
    for dy, dx in ((0, 0), (2, -3), (-7, 7), (6, 1)):
        for flip in (False, True):
            expected = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            expected = torch.flip(expected, dims=(3,)) if flip else expected
            got = di.roll_and_flip(x, torch.tensor([dy, dx]), torch.tensor(flip))
            assert torch.equal(got, expected)
            # a permutation of the pixels: the gradient reaches each input pixel once
            (grad,) = torch.autograd.grad(got.sum(), x)
            assert torch.equal(grad, torch.ones_like(x))


@pytest.mark.gpu
def test_the_graphed_inversion_replays_the_eager_one_on_the_gpu():
    torch.manual_seed(0)
    teacher = Normalized(tiny_bn_teacher(num_classes=3)).cuda().eval().requires_grad_(False)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    config = replace(preset_for(16, "imagenet-multires"), iterations=12, low_res_iterations=6, warmup=4)
    eager = invert_batch(teacher, labels, 16, config, seed=3, graphed=False)
    graphed = invert_batch(teacher, labels, 16, config, seed=3, graphed=True)
    assert graphed.device.type == "cuda" and (graphed - eager).abs().max().item() < 1e-3


@pytest.mark.parametrize("preset", ["cifar10", "imagenet-multires"])
def test_inversion_makes_the_teacher_see_its_targets(preset):
    teacher = Normalized(tiny_bn_teacher(num_classes=3))
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    config = DeepInversionConfig(
        **{
            **vars(preset_for(16, preset)),
            "iterations": 60,
            "low_res_iterations": 20 if preset != "cifar10" else 0,
            "warmup": 10,
        }
    )
    images = invert_batch(teacher, labels, 16, config, seed=0)
    assert images.shape == (6, 3, 16, 16) and images.min() >= 0 and images.max() <= 1
    start = (torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * teacher.std + teacher.mean).clamp(
        0, 1
    )
    with torch.no_grad():
        assert F.cross_entropy(teacher(images), labels) < F.cross_entropy(teacher(start), labels)
        with BatchNormAlignment(teacher, norm="l2") as bn:
            teacher(start)
            before = bn.loss().item()
            teacher(images)
            assert bn.loss().item() < before


def test_dataset_is_written_in_balanced_shards_and_resumes(tmp_path, monkeypatch):
    teacher = Normalized(tiny_bn_teacher(num_classes=3))
    config = DeepInversionConfig(**{**vars(preset_for(16)), "iterations": 3, "batch_size": 4})
    before = phase_seconds().get("deepinversion", 0.0)
    dataset = deepinversion_dataset(teacher, ["a", "b", "c"], 2, tmp_path / "di", 16, config, progress=False)
    assert dataset.complete and phase_seconds()["deepinversion"] > before  # a workflow job's phases count it
    images, labels, classes = read_dataset(dataset.path)
    assert images.shape == (6, 16, 16, 3) and images.dtype == np.uint8 and classes == ["a", "b", "c"]
    assert np.bincount(labels).tolist() == [2, 2, 2]
    monkeypatch.setattr(di, "invert_batch", lambda *a, **k: pytest.fail("a finished shard was redone"))
    deepinversion_dataset(teacher, ["a", "b", "c"], 2, dataset.path, 16, config, progress=False)
