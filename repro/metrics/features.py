"""Feature networks and batched feature extraction.

A metric is only as meaningful as the features it is computed on, so every feature network carries a name,
and the names of the metrics computed on it are built from that name (``repro.metrics.suite``):

- ``InceptionFeatures``: torch-fidelity's Inception-v3 (the TF FID graph): pool features (2048) and the
  unbiased logits (IS). The only network whose FID/IS/KID are called plain ``fid``/``is``/``kid``.
- ``VGG16Features``: torch-fidelity's VGG-16 fc2 (after ReLU), the features of Kynkaanniemi et al.; the only
  network whose precision/recall/density/coverage carry plain names.
- ``ClassifierFeatures``: any classifier (for the offline mini world, one the project trained on the pool):
  its penultimate layer (or a named layer) as features and its logits for IS. Its columns read
  ``fid@<name>``, ``is@<name>``, ... so such a number is never mistaken for a standard one.

Every network takes uint8 images [N, 3, H, W] on its device and resizes them to its own input size, so real
and fake sets of different resolutions are compared at one resolution.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..errors import ReproError
from ..provenance import phase
from .sources import ImageSource
from .weights import resolve_weights

ALL_METRICS = ("fid", "is", "kid", "precision", "recall", "density", "coverage")

#: Names only the standard networks may carry: a classifier called "inception" would forge plain FID.
RESERVED_NAMES = frozenset({"inception", "vgg16"})
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class FeatureNet:
    """Maps uint8 images [N, 3, H, W] on ``device`` to (features [N, D], logits [N, C] or None), float32."""

    name: str
    #: Metrics whose standard definition uses exactly these features; they get plain column names.
    plain_metrics: frozenset[str] = frozenset()
    #: The square size images are resized to; None: images are taken at their own size.
    input_size: int | None = None
    device: torch.device

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError


class InceptionFeatures(FeatureNet):
    """torch-fidelity's Inception-v3 from a local, hash-checked weights file (see ``repro.metrics.weights``)."""

    name = "inception"
    plain_metrics = frozenset({"fid", "is", "kid"})
    input_size = 299

    def __init__(
        self, weights: str | Path | None = None, device: torch.device | str | None = None, download: bool = False
    ):
        path = resolve_weights("inception", weights, download)
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        self.device = torch.device(device) if device else default_device()
        self.net = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path)
        ).to(self.device)

    def __call__(self, images):
        features, logits = self.net(images)
        return features, logits


class VGG16Features(FeatureNet):
    """torch-fidelity's VGG-16 (fc2 after ReLU) from a local, hash-checked torchvision weights file."""

    name = "vgg16"
    plain_metrics = frozenset({"precision", "recall", "density", "coverage"})
    input_size = 224

    def __init__(
        self, weights: str | Path | None = None, device: torch.device | str | None = None, download: bool = False
    ):
        path = resolve_weights("vgg16", weights, download)
        from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

        self.device = torch.device(device) if device else default_device()
        self.net = FeatureExtractorVGG16("vgg16", ["fc2_relu"], feature_extractor_weights_path=str(path))
        self.net.to(self.device)

    def __call__(self, images):
        (features,) = self.net(images)
        return features, None


class ClassifierFeatures(FeatureNet):
    """A classifier as feature network: a layer's activations as features, its outputs as logits.

    ``model`` takes float images [N, 3, H, W] in [0, 1] (repro.classifiers models normalise inside).
    ``feature_layer``: a module name from ``model.named_modules()`` whose output is the feature (4-D outputs
    are global-average-pooled); by default the input of the last ``nn.Linear``, i.e. the penultimate layer.
    ``resolution``: images are resized (bilinear, antialiased) to it; default ``model.resolution`` if the
    model has that attribute, else images are used at their own size.
    """

    def __init__(self, model: nn.Module, name: str, feature_layer: str | None = None, resolution: int | None = None):
        if not _NAME_PATTERN.match(name or ""):
            raise ReproError(
                f"feature network name {name!r} must be lower-case letters, digits and . _ + - "
                "(it becomes part of column names such as fid@pool-resnet18)"
            )
        if name in RESERVED_NAMES:
            raise ReproError(
                f"the name {name!r} is reserved for the standard {name} features; name the classifier after what "
                "it is, e.g. pool-resnet18"
            )
        self.model = model
        self.name = name
        self.input_size = resolution or getattr(model, "resolution", None)
        self.layer, self.hook_input = _feature_module(model, feature_layer)
        self.device = next(model.parameters()).device

    def __call__(self, images):
        x = images.to(torch.float32) / 255.0
        if self.input_size and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", antialias=True, align_corners=False
            )
        captured: list[torch.Tensor] = []
        if self.hook_input:
            handle = self.layer.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
        else:
            handle = self.layer.register_forward_hook(lambda module, args, output: captured.append(output))
        try:
            with _eval_mode(self.model):
                logits = self.model(x)
        finally:
            handle.remove()
        if logits.dim() != 2:
            raise ReproError(
                f"classifier {self.name} returned outputs of shape {tuple(logits.shape)}; "
                "expected class logits [N, classes]"
            )
        features = captured[-1]
        features = features.mean(dim=(2, 3)) if features.dim() == 4 else features.flatten(1)
        return features.float(), logits.float()


def _feature_module(model: nn.Module, feature_layer: str | None) -> tuple[nn.Module, bool]:
    """The module to hook and whether its input (True) or output (False) is the feature."""
    modules = dict(model.named_modules())
    if feature_layer is not None:
        if feature_layer not in modules:
            names = [n for n in modules if n][-8:]
            raise ReproError(f"the classifier has no layer {feature_layer!r}; its last layers are {names}")
        return modules[feature_layer], False
    linears = [m for m in modules.values() if isinstance(m, nn.Linear)]
    if not linears:
        raise ReproError("the classifier has no nn.Linear head; name the feature layer (feature_layer=...)")
    return linears[-1], True


@contextmanager
def _eval_mode(model: nn.Module):
    """BatchNorm must use running statistics while extracting; the caller's train/eval state is restored."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class Features:
    """What one feature network saw in one image set."""

    extractor: str
    plain_metrics: frozenset[str]
    embeddings: torch.Tensor
    logits: torch.Tensor | None = None
    #: (H, W) of the images the network ran on: its input size, or the images' own size.
    image_size: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.embeddings)


def extract_features(source: ImageSource, nets: list[FeatureNet], batch_size: int = 256) -> dict[str, Features]:
    """Run every network over one pass of the image set; features stay on each network's device."""
    if len({net.name for net in nets}) != len(nets):
        raise ReproError(f"feature networks need distinct names, got {[net.name for net in nets]}")
    embeddings = {net.name: [] for net in nets}
    logits = {net.name: [] for net in nets}
    sizes: set[tuple[int, int]] = set()
    pin = any(net.device.type == "cuda" for net in nets)
    with torch.inference_mode():
        for batch in tqdm(
            source.batches(batch_size),
            desc=f"features of {source.name}",
            unit="batch",
            total=source.num_batches(batch_size),
            leave=False,
        ):
            sizes.add(batch.shape[1:3])
            host = torch.from_numpy(np.ascontiguousarray(batch))
            if pin:
                host = host.pin_memory()
            for net in nets:
                images = host.to(net.device, non_blocking=True).permute(0, 3, 1, 2)
                feats, logit = net(images)
                embeddings[net.name].append(feats)
                if logit is not None:
                    logits[net.name].append(logit)
    if not sizes:
        raise ReproError(f"the image set {source.name} is empty")
    out = {}
    for net in nets:
        if net.input_size:
            seen = (net.input_size, net.input_size)
        elif len(sizes) == 1:
            seen = next(iter(sizes))
        else:
            raise ReproError(
                f"{source.name} mixes image sizes {sorted(sizes)} and {net.name} has no input size; "
                "give the feature network a resolution"
            )
        out[net.name] = Features(
            extractor=net.name,
            plain_metrics=net.plain_metrics,
            embeddings=torch.cat(embeddings[net.name]),
            logits=torch.cat(logits[net.name]) if logits[net.name] else None,
            image_size=seen,
        )
    return out


@phase("features")  # a workflow job's phases say where its time went: the metrics, KNN and few-shot probes embed
def embed(net: FeatureNet, images: np.ndarray, name: str = "images", batch_size: int = 256) -> torch.Tensor:
    """Features [N, D] (fp32, CPU) of uint8 images [N, H, W, 3] under the frozen feature network ``net``."""
    if len(images) == 0:
        raise ReproError(f"no images to embed in {name!r}")
    found = extract_features(ImageSource.from_array(np.ascontiguousarray(images), name), [net], batch_size)
    return found[net.name].embeddings.float().cpu()
