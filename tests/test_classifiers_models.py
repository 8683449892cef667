"""Architectures fitted to the input size, normalisation inside, checkpoints (ours and akamaster's)."""

from __future__ import annotations

import pytest
import torch

from repro.classifiers import ARCHS, IMAGENET_MEAN, build_model, load_cifar_resnet, load_classifier, save_classifier
from repro.classifiers.cifar_resnet import cifar_resnet
from repro.classifiers.models import total_stride
from repro.errors import ReproError


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_gives_logits_at_32_64_128_px(arch):
    for resolution in (32, 64, 128):
        model = build_model(arch, 7, resolution).eval()
        grids = []
        if isinstance(model.body, torch.nn.Sequential):  # the fitted torchvision nets: grid before pooling
            pool = next(i for i, m in enumerate(model.body) if isinstance(m, torch.nn.AdaptiveAvgPool2d))
            model.body[pool - 1].register_forward_hook(lambda m, i, o, grids=grids: grids.append(o.shape[-1]))
        with torch.no_grad():
            logits = model(torch.rand(1, 3, resolution, resolution))
        assert logits.shape == (1, 7) and torch.isfinite(logits).all()
        assert model.resolution == resolution and model.num_classes == 7
        if grids:
            stride = 32 if arch == "vgg16_bn" else total_stride(resolution)  # VGG keeps its 5 max-pools
            assert grids == [resolution // stride]


@pytest.mark.parametrize("resolution,final", [(32, 4), (64, 4), (96, 6), (128, 4), (256, 8)])
def test_resnet18_stem_follows_the_resolution(resolution, final):
    model = build_model("resnet18", 10, resolution)
    stem = model.body.conv1
    assert (stem.kernel_size, stem.stride) == (((3, 3), (1, 1)) if resolution < 64 else ((7, 7), (2, 2)))
    assert isinstance(model.body.maxpool, torch.nn.MaxPool2d) == (resolution >= 128)
    maps = {}
    model.body.layer4.register_forward_hook(lambda m, i, o: maps.setdefault("out", o))
    with torch.no_grad():
        model.eval()(torch.rand(1, 3, resolution, resolution))
    assert maps["out"].shape[-1] == final == resolution // total_stride(resolution)


def test_normalisation_lives_inside_the_model():
    model = build_model("cifar_resnet20", 3, 32, mean=(0.2, 0.3, 0.4), std=(0.5, 0.5, 0.5)).eval()
    x = torch.rand(2, 3, 32, 32)
    expected = model.head(model.body((x - torch.tensor([0.2, 0.3, 0.4]).view(1, 3, 1, 1)) / 0.5))
    assert torch.allclose(model(x), expected)
    assert "mean" not in model.state_dict() and "std" not in model.state_dict()


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ReproError, match="unknown architecture"):
        build_model("resnet50", 10, 32)
    with pytest.raises(ReproError, match="at least 2 classes"):
        build_model("resnet18", 1, 32)


def _akamaster_file(tmp_path, depth=20, classes=10):
    """A checkpoint shaped like akamaster's: {'state_dict': {'module.' + key: ...}, 'best_prec1': ...}."""
    torch.manual_seed(depth)
    body, head = cifar_resnet(depth, classes)
    for module in body.modules():  # statistics unlike a fresh model's, so loading them is visible
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 1.5)
    state = {
        **{f"module.{k}": v for k, v in body.state_dict().items() if "num_batches" not in k},
        **{f"module.linear.{k}": v for k, v in head.state_dict().items()},
    }
    path = tmp_path / f"resnet{depth}.th"
    torch.save({"state_dict": state, "best_prec1": 91.0}, path)
    return path, body, head


def test_akamaster_checkpoint_round_trips(tmp_path):
    path, body, head = _akamaster_file(tmp_path, depth=20)
    model = load_cifar_resnet(path).eval()
    assert model.arch == "cifar_resnet20" and model.num_classes == 10
    assert list(model.mean.flatten().tolist()) == pytest.approx(IMAGENET_MEAN)
    for key, value in body.state_dict().items():
        if "num_batches" not in key:
            assert torch.equal(model.body.state_dict()[key], value), key
    assert torch.equal(model.head.weight, head.weight)
    x = torch.rand(2, 3, 32, 32)
    body.eval()
    reference = head(body((x - model.mean) / model.std))
    assert torch.allclose(model(x), reference, atol=1e-6)
    assert load_classifier(path, arch="cifar_resnet20").arch == "cifar_resnet20"


def test_akamaster_depth_is_read_from_the_weights_and_checked(tmp_path):
    path, _, _ = _akamaster_file(tmp_path, depth=56)
    assert load_cifar_resnet(path).arch == "cifar_resnet56"
    with pytest.raises(ReproError, match="holds a cifar_resnet56 but cifar_resnet20"):
        load_cifar_resnet(path, arch="cifar_resnet20")


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    foreign = tmp_path / "resnet18.th"
    state = {f"module.{k}": v for k, v in build_model("resnet18", 10, 32).body.state_dict().items()}
    torch.save({"state_dict": state}, foreign)
    with pytest.raises(ReproError, match="not a CIFAR ResNet"):
        load_cifar_resnet(foreign)
    saved = save_classifier(build_model("cifar_resnet20", 10, 32), tmp_path / "r20.pt")
    with pytest.raises(ReproError, match="holds a cifar_resnet20 but --arch resnet18"):
        load_classifier(saved, arch="resnet18")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ReproError, match="junk.pt is damaged or not such a file"):
        load_classifier(tmp_path / "junk.pt")


def test_saved_classifier_restores_weights_and_normalisation(tmp_path):
    model = build_model("shufflenet_v2", 5, 32, mean=(0.1, 0.2, 0.3), std=(0.3, 0.2, 0.1)).eval()
    path = save_classifier(model, tmp_path / "m.pt", seed=3)
    again = load_classifier(path).eval()
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(model(x), again(x))
    assert again.meta == {"seed": 3} and again.resolution == 32
    assert not (tmp_path / "m.pt.tmp").exists()
