"""torchvision's ImageNet classifiers as suite classifiers, read from torch's hub cache (no download here)."""

from __future__ import annotations

import pytest
import torch

from repro.classifiers import load_classifier
from repro.classifiers.pretrained import weights_file
from repro.errors import ReproError


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr("repro.classifiers.pretrained.reachable", lambda url: False)
    return tmp_path


def test_official_file_in_the_cache_loads_with_torchvision_layout(hub):
    from torchvision.models import resnet18

    reference = resnet18(num_classes=1000).eval()
    path = weights_file("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    model = load_classifier("torchvision:resnet18").eval()
    assert model.resolution == 224 and model.num_classes == 1000 and len(model.meta["classes"]) == 1000
    images = torch.rand(2, 3, 224, 224)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():  # the suite's classifier normalises inside; torchvision's expects normalised input
        torch.testing.assert_close(model(images), reference((images - mean) / std))


def test_missing_weights_offline_name_the_file_and_the_fix(hub):
    with pytest.raises(ReproError, match=r"resnet34-b627a593\.pth.*run once online or copy the file there"):
        load_classifier("torchvision:resnet34")
    with pytest.raises(ReproError, match="no torchvision ImageNet weights for 'vgg99'"):
        load_classifier("torchvision:vgg99")
