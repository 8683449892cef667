"""Image-quality metrics of a synthetic set against real images, on the feature network a scale can have, under
the convention of the paper being reproduced.

``metric_convention`` names the estimator settings (``repro.metrics.CONVENTIONS``): ``studiogan`` is Diffusion
Inversion's (PyTorch-StudioGAN, appendix C.3: every metric on Inception-v3 pool features, precision, recall,
density and coverage with k = 5), ``torch-fidelity`` the standard pairing DDIS's summary leaves unstated
(Inception-v3 for FID/IS, VGG-16 for precision/recall with k = 3, density/coverage with k = 5). ``features:
inception`` loads the standard networks from local weights (``repro.metrics.weights``). Offline there are no such
weights, so ``features: pool-resnet18`` uses the ResNet-18 the scale trains on the pool (asset
``pool_classifier``) for every metric, with the convention's k, and every value says so: the metrics return
``fid@pool-resnet18`` and ``precision@pool-resnet18, k=5``, which :func:`record_metrics` files under the paper's
column (``FID``, so that it sits beside the paper's number) with that name as its unit, never as a plain FID.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ..classifiers import load_classifier
from ..errors import ReproError
from ..metrics import (
    CONVENTIONS,
    PAPER_NAMES,
    ClassifierFeatures,
    ImageSource,
    InceptionFeatures,
    VGG16Features,
    evaluate,
)
from ..provenance import phase

POOL_FEATURES = "pool-resnet18"
#: the pool-trained LECF filters (``lecf_filter``) and the asset of the classifier each scores with
FILTER_ASSETS = {POOL_FEATURES: "pool_classifier", "pool-judge": "pool_judge"}
#: metrics computed on k-nearest-neighbour balls: their unit names the k
NEIGHBOURHOOD = ("precision", "recall", "density", "coverage")


@lru_cache(maxsize=2)
def _pool_network(path: str, device: str):
    return ClassifierFeatures(load_classifier(path).to(device).eval(), POOL_FEATURES)


def filter_network(run, kind: str):
    """The classifier the LECF filter ``kind`` scores with, on the run's device. ``pool-resnet18`` is the network of
    the metrics' features, trained on the raw pool; ``pool-judge`` one trained on the pool's VAE round trips (as the
    model card's judge), so that LECF's images are neither kept by the network that then measures them nor for a
    sharpness that only some of the pool's sources have."""
    if kind not in FILTER_ASSETS:
        raise ReproError(f"lecf_filter {kind!r} is not a pool-trained filter; use one of {', '.join(FILTER_ASSETS)}")
    return _pool_network(str(run.assets.classifier(FILTER_ASSETS[kind])), run.device).model


def settings(convention: str):
    """The estimator settings of a ``metric_convention``."""
    if convention not in CONVENTIONS:
        raise ReproError(f"unknown metric_convention {convention!r}; use one of {sorted(CONVENTIONS)}")
    return CONVENTIONS[convention]


def fewest_images(convention: str) -> int:
    """The images a set needs for the convention's k-NN balls."""
    chosen = settings(convention)
    return max(chosen.pr_k, chosen.dc_k) + 1


def feature_networks(run, features: str, convention: str = "studiogan") -> list:
    """The feature networks a ``features`` parameter names, on the run's device. ``inception`` is Inception-v3
    alone under StudioGAN's convention (every metric on its pool features), Inception-v3 and VGG-16 under
    torch-fidelity's; a classifier serves every metric under either."""
    settings(convention)  # an unknown convention fails here, before any network loads
    if features == POOL_FEATURES:
        return [_pool_network(str(run.assets.classifier("pool_classifier")), run.device)]
    if features == "inception":
        standard = [InceptionFeatures(device=run.device)]
        if convention == "torch-fidelity":  # its precision, recall, density and coverage are on VGG-16
            standard.append(VGG16Features(device=run.device))
        return standard
    raise ReproError(f"unknown features {features!r}; use {POOL_FEATURES} (offline scales) or inception (paper)")


def with_k(scores: Mapping[str, float], convention: str) -> dict[str, float]:
    """``scores`` with each neighbourhood metric's name followed by its k (``precision@pool-resnet18, k=5``)."""
    chosen = settings(convention)
    k = {"precision": chosen.pr_k, "recall": chosen.pr_k, "density": chosen.dc_k, "coverage": chosen.dc_k}
    return {
        (f"{name}, k={k[_metric(name)]}" if _metric(name) in NEIGHBOURHOOD else name): value
        for name, value in scores.items()
    }


def _metric(name: str) -> str:
    """``precision@pool-resnet18, k=5`` -> ``precision``."""
    return name.split("@")[0].split(",")[0]


def image_metrics(
    run,
    real: np.ndarray,
    fake: np.ndarray,
    *,
    features: str,
    convention: str,
    metrics: Sequence[str],
    samples: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """``metrics`` (fid, is, precision, recall, density, coverage...) of uint8 ``fake`` against ``real`` under
    ``convention``, each set cut to ``samples`` seeded images when larger; columns named by the features and k."""
    rng = np.random.default_rng(seed)

    def cut(images: np.ndarray) -> np.ndarray:
        if samples is None or len(images) <= samples:
            return images
        return images[np.sort(rng.choice(len(images), int(samples), replace=False))]

    with phase("metrics"):
        scores = evaluate(
            ImageSource.from_array(cut(real), "real"),
            ImageSource.from_array(cut(fake), "synthetic"),
            feature_networks(run, features, convention),
            metrics=list(metrics),
            settings=settings(convention),
        )
    return with_k(scores, convention)


def record_metrics(
    run,
    scores: Mapping[str, float],
    *,
    tables: Mapping[str, Sequence[str]],
    row: str,
    column: str = "{metric}",
    **fields: Any,
) -> dict[str, float]:
    """Record ``image_metrics`` output under each paper table's ``row`` and the paper's column (``column`` with
    ``{metric}`` replaced by the paper's spelling, e.g. ``FID`` or ``"DDIS {metric}"``); the unit is the
    feature-named metric (``fid@pool-resnet18``, ``precision@pool-resnet18, k=5``), so a stand-in feature
    network is never passed off as the paper's, and the field ``metric`` is its short name (``fid``).
    ``tables`` maps a table to the metrics it shows (``fid``, ``precision``...)."""
    found = {}
    for name, value in scores.items():
        metric = _metric(name)
        if metric in PAPER_NAMES:
            found[metric] = (name, value)
    for table, metrics in tables.items():
        for metric in metrics:
            if metric not in found:
                raise ReproError(
                    f"{table} shows {metric}, which the metrics computed lack ({sorted(scores)}); "
                    "ask image_metrics for it"
                )
            name, value = found[metric]
            run.record(
                table=table,
                row=row,
                column=column.format(metric=PAPER_NAMES[metric]),
                value=value,
                unit=name,
                metric=metric,
                n_real=scores.get("n_real"),
                n_fake=scores.get("n_fake"),
                **fields,
            )
    return {metric: value for metric, (_, value) in found.items()}
