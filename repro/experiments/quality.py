"""Image-quality metrics of a synthetic set against real images, on the feature network a scale can have.

``features: inception`` is the papers' setting (Inception-v3 for FID/IS, VGG-16 for precision/recall, from
local weights: ``repro.metrics.weights``). Offline there are no such weights, so ``features: pool-resnet18``
uses the ResNet-18 the scale trains on the pool (asset ``pool_classifier``) and every value says so: the metrics
return ``fid@pool-resnet18``, and :func:`record_metrics` files it under the paper's column (``FID``, so that it
sits beside the paper's number) with that feature-named metric as its unit, never as a plain FID.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np

from ..classifiers import load_classifier
from ..errors import ReproError
from ..metrics import PAPER_NAMES, ClassifierFeatures, ImageSource, InceptionFeatures, VGG16Features, evaluate

POOL_FEATURES = "pool-resnet18"


@lru_cache(maxsize=2)
def _pool_network(path: str, device: str):
    return ClassifierFeatures(load_classifier(path).to(device).eval(), POOL_FEATURES)


def feature_networks(run, features: str) -> list:
    """The feature networks a ``features`` parameter names, on the run's device."""
    if features == POOL_FEATURES:
        return [_pool_network(str(run.assets.classifier("pool_classifier")), run.device)]
    if features == "inception":
        return [InceptionFeatures(device=run.device), VGG16Features(device=run.device)]
    raise ReproError(f"unknown features {features!r}; use {POOL_FEATURES} (offline scales) or inception (paper)")


def image_metrics(run, real: np.ndarray, fake: np.ndarray, *, features: str, metrics: Sequence[str],
                  samples: int | None = None, seed: int = 0) -> dict[str, float]:
    """``metrics`` (fid, is, precision, recall, density, coverage...) of uint8 ``fake`` against ``real``,
    each set cut to ``samples`` seeded images when larger; columns named by the features."""
    rng = np.random.default_rng(seed)

    def cut(images: np.ndarray) -> np.ndarray:
        if samples is None or len(images) <= samples:
            return images
        return images[np.sort(rng.choice(len(images), int(samples), replace=False))]

    return evaluate(ImageSource.from_array(cut(real), "real"), ImageSource.from_array(cut(fake), "synthetic"),
                    feature_networks(run, features), metrics=list(metrics))


def record_metrics(run, scores: Mapping[str, float], *, tables: Mapping[str, Sequence[str]], row: str,
                   column: str = "{metric}", **fields: Any) -> dict[str, float]:
    """Record ``image_metrics`` output under each paper table's ``row`` and the paper's column (``column`` with
    ``{metric}`` replaced by the paper's spelling, e.g. ``FID`` or ``"DDIS {metric}"``); the unit is the
    feature-named metric (``fid@pool-resnet18``), so a stand-in feature network is never passed off as the
    paper's, and the field ``metric`` is its short name (``fid``). ``tables`` maps a table to the metrics it
    shows (``fid``, ``precision``...)."""
    found = {}
    for name, value in scores.items():
        metric = name.split("@")[0]
        if metric in PAPER_NAMES:
            found[metric] = (name, value)
    for table, metrics in tables.items():
        for metric in metrics:
            if metric not in found:
                raise ReproError(f"{table} shows {metric}, which the metrics computed lack ({sorted(scores)}); "
                                 "ask image_metrics for it")
            name, value = found[metric]
            run.record(table=table, row=row, column=column.format(metric=PAPER_NAMES[metric]), value=value,
                       unit=name, metric=metric, n_real=scores.get("n_real"), n_fake=scores.get("n_fake"), **fields)
    return {metric: value for metric, (_, value) in found.items()}
