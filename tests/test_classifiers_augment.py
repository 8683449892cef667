"""Each augmentation of Table 4 does what the paper (appendix B.2.3) and torchvision say it does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import AutoAugment as TvAutoAugment
from torchvision.transforms.autoaugment import _apply_op

from repro.classifiers import AugMix, AutoAugment, CutMix, CutOut, MixUp, RandAugment, batch_augmentation
from repro.classifiers.policies import GEOMETRIC, Stage, apply_op, apply_stage
from repro.errors import ReproError

OPS = {
    "ShearX": [0.3, -0.2, 0.1],
    "ShearY": [-0.3, 0.2, 0.05],
    "TranslateX": [5.5, -7.9, 1.2],
    "TranslateY": [-5.5, 7.9, 0.0],
    "Rotate": [30.0, -30.0, 12.3],
    "Brightness": [0.9, -0.9, 0.3],
    "Color": [0.9, -0.9, -0.3],
    "Contrast": [0.9, -0.9, 0.3],
    "Sharpness": [0.9, -0.9, 0.5],
    "Posterize": [8, 6, 4],
    "Solarize": [255.0, 170.0, 0.0],
    "AutoContrast": [0, 0, 0],
    "Equalize": [0, 0, 0],
    "Invert": [0, 0, 0],
}


def _images(n=3, h=20, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)
    images[0, :, :8] = 7  # flat regions and extremes exercise rounding and the histogram code
    return images


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_batched_ops_with_per_image_magnitudes_equal_torchvision_image_by_image(interpolation):
    images = _images()
    for name, magnitudes in OPS.items():
        ours = apply_op(images, name, magnitudes, interpolation)
        reference = torch.cat(
            [
                _apply_op(images[i : i + 1], name, float(m), interpolation=InterpolationMode(interpolation), fill=None)
                for i, m in enumerate(magnitudes)
            ]
        )
        assert torch.equal(ours, reference), name


def test_a_stage_gives_each_image_its_own_operation():
    images = _images(4)
    stage = Stage(np.array(["Rotate", None, "Posterize", "Rotate"], dtype=object), np.array([20.0, 0, 4, -10.0]))
    out = apply_stage(images, stage, "nearest")
    assert torch.equal(out[1], images[1])
    assert torch.equal(out[2], images[2] & 0xF0)
    assert torch.equal(out[[0, 3]], apply_op(images[[0, 3]], "Rotate", [20.0, -10.0]))


def test_autoaugment_draws_one_imagenet_subpolicy_per_image():
    policy = AutoAugment(seed=1)
    subpolicies = TvAutoAugment().policies
    assert len(subpolicies) == 25
    space = TvAutoAugment()._augmentation_space(10, (32, 32))
    first, second = policy.plan(4000, (32, 32))
    allowed = {(a[0], b[0]) for a, b in subpolicies}
    for slot, stage in enumerate((first, second)):
        allowed_ops = {
            (p[slot][0], round(float(space[p[slot][0]][0][p[slot][2]]) if p[slot][2] is not None else 0.0, 5))
            for p in subpolicies
        }
        drawn = {(n, round(abs(m), 5)) for n, m in zip(stage.names, stage.magnitudes) if n is not None}
        assert drawn <= allowed_ops
    pairs = {(a, b) for a, b in zip(first.names, second.names) if a is not None and b is not None}
    assert pairs <= allowed
    assert len(set(first.names) - {None}) >= 8  # images of one batch draw different sub-policies
    skipped = np.mean([n is None for n in first.names])
    assert 0.2 < skipped < 0.5  # each operation fires with its sub-policy's probability (0.4 to 1.0)


def test_randaugment_applies_two_of_fourteen_ops_at_magnitude_9_of_31():
    policy = RandAugment(seed=2)
    stages = policy.plan(3000, (32, 32))
    assert len(stages) == 2
    names = np.concatenate([s.names for s in stages])
    assert None not in set(names) and len(set(names)) == 14 and "Identity" in set(names)
    counts = np.array([np.sum(names == n) for n in set(names)])
    assert counts.min() > 0.6 * counts.mean()  # uniform choice
    rotations = np.concatenate([s.magnitudes[s.names == "Rotate"] for s in stages])
    assert set(np.round(np.abs(rotations), 6)) == {round(30.0 * 9 / 30, 6)}
    assert (rotations < 0).any() and (rotations > 0).any()


def test_augmix_mixes_the_original_with_three_chains_per_image():
    policy = AugMix(seed=3)
    images = _images(6, 16, 16)
    plan = policy.plan(6, (16, 16))
    assert np.allclose(plan.original_weight + plan.chain_weights.sum(1), 1.0)
    assert len(plan.stages) <= 3 and all(len(s.names) == 18 for s in plan.stages)
    chains = images.repeat(3, 1, 1, 1)
    for stage in plan.stages:
        chains = apply_stage(chains, stage, "bilinear")
    expected = torch.as_tensor(plan.original_weight, dtype=torch.float32).view(6, 1, 1, 1) * images
    for c in range(3):
        weight = torch.as_tensor(plan.chain_weights[:, c], dtype=torch.float32).view(6, 1, 1, 1)
        expected = expected + weight * chains[6 * c : 6 * (c + 1)]
    assert torch.equal(policy.apply(images, plan), expected.to(torch.uint8))
    plan.stages = []  # no operations: the mix gives the image back (up to the float truncation)
    assert (policy.apply(images, plan).int() - images.int()).abs().max() <= 1


@pytest.mark.parametrize("name", ["autoaugment", "randaugment", "augmix"])
def test_policies_change_float_batches_and_keep_targets(name):
    augment = batch_augmentation(name, seed=0)
    images = torch.rand(16, 3, 32, 32)
    targets = torch.eye(16)
    out, out_targets = augment(images, targets)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert 0 <= out.min() and out.max() <= 1
    assert torch.equal(out_targets, targets)
    changed = (out - images).abs().flatten(1).amax(1) > 1 / 255 + 1e-6
    assert changed.sum() >= 8


def test_cutout_zeroes_exactly_one_square_of_one_eighth_of_the_side():
    cutout = CutOut(seed=0)
    images = torch.full((64, 3, 96, 96), 0.5)
    out, _ = cutout(images, torch.zeros(64, 2))
    for img in out:
        zero = (img == 0).all(0)
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        assert zero.sum() == 12 * 12
        assert rows.max() - rows.min() + 1 == 12 and cols.max() - cols.min() + 1 == 12
        assert torch.equal(img[:, ~zero], images[0][:, ~zero])
    tops = [int((img == 0).all(0).any(1).nonzero()[0]) for img in out]
    assert len(set(tops)) > 10 and min(tops) >= 0 and max(tops) <= 96 - 12
    assert CutOut(seed=0).side(32, 32) == 4
    assert CutOut(8**-0.5).side(96, 96) == 34  # the other reading: 1/8 of the area


def test_mixup_blends_a_permuted_batch_and_its_labels_with_one_lambda():
    n = 32
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 4, 4) / n
    targets = torch.eye(n)
    out, mixed = MixUp(seed=5)(images, targets)
    lams = set()
    for i in range(n):
        donors = [int(k) for k in mixed[i].nonzero().flatten() if k != i]
        j = donors[0] if donors else i  # an image the permutation left in place mixes with itself
        lam = float(mixed[i, i]) if donors else 1.0
        lams.add(round(lam, 5))
        assert torch.allclose(out[i], lam * images[i] + (1 - lam) * images[j], atol=1e-6)
        assert mixed[i].sum() == pytest.approx(1.0)
    assert len(lams - {1.0}) == 1
    draws = [float(MixUp(seed=s).rng.beta(1, 1)) for s in range(200)]
    assert 0.4 < np.mean(draws) < 0.6 and min(draws) < 0.05 and max(draws) > 0.95  # Beta(1, 1) is uniform


def test_cutmix_label_weight_is_the_pasted_area():
    n = 16
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 32, 32).clone()
    targets = torch.eye(n)
    for seed in range(20):
        out, mixed = CutMix(seed=seed)(images, targets)
        for i in range(n):
            pasted = (out[i, 0] != i).float().mean().item()
            if pasted == 0:
                continue  # the permutation kept this image in place, or the box is empty
            donor = int(out[i, 0][out[i, 0] != i][0])
            assert mixed[i, donor] == pytest.approx(pasted, abs=1e-6)
            assert mixed[i, i] == pytest.approx(1 - pasted, abs=1e-6)
            region = (out[i, 0] != i).nonzero()
            height = region[:, 0].max() - region[:, 0].min() + 1
            width = region[:, 1].max() - region[:, 1].min() + 1
            assert height * width == len(region)  # one rectangle


def test_unknown_augmentation_is_a_clear_error():
    with pytest.raises(ReproError, match="unknown augmentation"):
        batch_augmentation("gridmask")
    with pytest.raises(ReproError):
        CutOut(0.0)
    assert batch_augmentation("default") is None and batch_augmentation("meada") is None
    assert set(GEOMETRIC) < set(OPS)
