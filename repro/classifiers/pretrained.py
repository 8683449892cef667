"""ImageNet classifiers pre-trained by torchvision, as :class:`~.models.Classifier` (the DDIS paper's ImageNet
ResNet-34 teacher): ``load_classifier("torchvision:resnet34")``.

The weights are torchvision's official files (``download.pytorch.org``), read from torch's hub cache
(``$TORCH_HOME/hub/checkpoints``, as torchvision itself keeps them) and downloaded there only when the file is
missing and the machine is online; offline, a missing file is one error naming the file and where to put it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..data.download import reachable
from ..errors import ReproError
from ..files import read_damageable
from ..fingerprint import file_hash
from .models import IMAGENET_MEAN, IMAGENET_STD, Classifier, build_model, load_state

PREFIX = "torchvision:"
#: arch -> torchvision weights enum and member; the classifiers take 224 px inputs, as trained
WEIGHTS = {"resnet18": ("ResNet18_Weights", "IMAGENET1K_V1"), "resnet34": ("ResNet34_Weights", "IMAGENET1K_V1")}
RESOLUTION = 224


def _weights(arch: str):
    if arch not in WEIGHTS:
        raise ReproError(
            f"no torchvision ImageNet weights for {arch!r}; available: {', '.join(PREFIX + a for a in WEIGHTS)}"
        )
    from torchvision import models

    enum, member = WEIGHTS[arch]
    return getattr(getattr(models, enum), member)


def weights_file(arch: str) -> Path:
    """Where torch's hub cache keeps the official file of ``arch``'s weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_weights(arch).url).name


def load_pretrained(spec: str) -> Classifier:
    """``torchvision:<arch>`` -> the ImageNet classifier with its official weights and normalisation."""
    arch = spec.removeprefix(PREFIX)
    weights, path = _weights(arch), weights_file(arch)
    if not path.exists():
        if not reachable(weights.url):
            raise ReproError(
                f"the ImageNet weights of {arch} ({path.name}) are not in {path.parent} and "
                f"{weights.url} cannot be reached; run once online or copy the file there"
            )
        torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True)
    state = read_damageable(
        path,
        lambda p: torch.load(p, map_location="cpu", weights_only=True),
        "ImageNet weights file",
        "delete it so that it is downloaded again",
    )
    mapped = {("head." + k.removeprefix("fc.")) if k.startswith("fc.") else "body." + k: v for k, v in state.items()}
    model = build_model(arch, len(weights.meta["categories"]), RESOLUTION, IMAGENET_MEAN, IMAGENET_STD)
    load_state(model, mapped, path)
    model.meta = {"source": weights.url, "classes": list(weights.meta["categories"])}
    model.fingerprint = file_hash(path)
    return model
