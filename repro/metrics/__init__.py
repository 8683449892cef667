"""Generative metrics (FID, IS, KID, precision, recall, density, coverage), labelled by their features.

Plain names (``fid``, ``precision``...) only for the standard features (torch-fidelity's Inception-v3 and
VGG-16, from local weights); any other feature network names its columns, e.g. ``fid@pool-resnet18``.

    from repro.metrics import ClassifierFeatures, ImageSource, evaluate
    net = ClassifierFeatures(pool_classifier, "pool-resnet18")
    row = evaluate(ImageSource.from_array(real, "cifar10:test"), ImageSource.from_array(fake, "di"), [net])
    # {"n_real": ..., "n_fake": ..., "fid@pool-resnet18": ..., "is@pool-resnet18": ..., ...}
"""

from .features import (
    ALL_METRICS,
    ClassifierFeatures,
    FeatureNet,
    Features,
    InceptionFeatures,
    VGG16Features,
    embed,
    extract_features,
)
from .sources import ImageSource, open_source
from .suite import CONVENTIONS, PAPER_NAMES, MetricSettings, evaluate, metric_column, score
from .weights import WEIGHTS_ENV, resolve_weights

__all__ = [
    "ALL_METRICS",
    "CONVENTIONS",
    "ClassifierFeatures",
    "FeatureNet",
    "Features",
    "ImageSource",
    "InceptionFeatures",
    "MetricSettings",
    "PAPER_NAMES",
    "VGG16Features",
    "WEIGHTS_ENV",
    "embed",
    "evaluate",
    "extract_features",
    "metric_column",
    "open_source",
    "resolve_weights",
    "score",
]
