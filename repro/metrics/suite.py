"""Scores of a fake image set against a real one, under column names that say which features were used.

``metric_column`` is the one place a name is made: plain (``fid``) only when the features are the ones the
metric's standard definition uses (Inception for FID/IS/KID, VGG-16 for precision/recall/density/coverage),
else ``<metric>@<features>`` (``fid@pool-resnet18``). ``score`` and ``evaluate`` only return such names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..errors import ReproError
from . import scores
from .features import ALL_METRICS, FeatureNet, Features, extract_features
from .sources import ImageSource

#: how the papers' tables spell each metric (their column headings)
PAPER_NAMES = {
    "fid": "FID",
    "is": "IS",
    "kid": "KID",
    "precision": "Precision",
    "recall": "Recall",
    "density": "Density",
    "coverage": "Coverage",
}


@dataclass(frozen=True)
class MetricSettings:
    """Estimator settings; the defaults are torch-fidelity's (and prdc's k=5 for density/coverage)."""

    is_splits: int = scores.DEFAULT_IS_SPLITS
    kid_subsets: int = scores.DEFAULT_KID_SUBSETS
    kid_subset_size: int = scores.DEFAULT_KID_SUBSET_SIZE
    pr_k: int = scores.DEFAULT_PR_K
    dc_k: int = scores.DEFAULT_DC_K
    seed: int = scores.DEFAULT_SEED
    #: precision/recall count a sample on a ball's boundary (torch-fidelity's ``<=``) or not (prdc's ``<``)
    pr_inclusive: bool = True

    def as_row(self) -> dict:
        return asdict(self)


#: the estimator settings of the two conventions the papers' metrics follow. torch-fidelity: precision/recall
#: with k = 3 (``<=``) on VGG-16 features, density/coverage with prdc's k = 5. PyTorch-StudioGAN, which Diffusion
#: Inversion used (appendix C.3): prdc's ``compute_prdc`` with ``nearest_k = 5`` for all four metrics (``<``;
#: src/evaluate.py and src/worker.py), on the same Inception-v3 pool features as FID (src/metrics/preparation.py).
CONVENTIONS = {
    "torch-fidelity": MetricSettings(),
    "studiogan": MetricSettings(pr_k=5, dc_k=5, pr_inclusive=False),
}


def metric_column(metric: str, features: Features) -> str:
    """``metric`` (e.g. ``fid``, ``kid_std``) named for the features it was computed on."""
    base = metric.removesuffix("_std")
    return metric if base in features.plain_metrics else f"{metric}@{features.extractor}"


def default_metrics(features: Features) -> tuple[str, ...]:
    """What features are for: the metrics they are standard for, else every metric they support."""
    standard = tuple(m for m in ALL_METRICS if m in features.plain_metrics)
    return standard or tuple(m for m in ALL_METRICS if m != "is" or features.logits is not None)


def score(
    real: Features,
    fake: Features,
    metrics: Sequence[str] | None = None,
    settings: MetricSettings = MetricSettings(),
) -> dict[str, float]:
    """The requested metrics (default: ``default_metrics``) of fake against real, under named columns."""
    if real.extractor != fake.extractor:
        raise ReproError(f"real and fake features come from different networks ({real.extractor}, {fake.extractor})")
    if real.image_size != fake.image_size:
        raise ReproError(
            f"{real.extractor} saw real images at {real.image_size} and fake images at {fake.image_size}; "
            "give the feature network a resolution so both sets are compared at one size"
        )
    if metrics is None:
        metrics = default_metrics(fake)
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        raise ReproError(f"unknown metrics {unknown}; choose from {', '.join(ALL_METRICS)}")

    values: dict[str, float] = {}
    if "fid" in metrics:
        values["fid"] = scores.fid(real.embeddings, fake.embeddings)
    if "is" in metrics:
        if fake.logits is None:
            raise ReproError(f"IS needs class logits and {fake.extractor} features have none; use a classifier")
        values["is"], values["is_std"] = scores.inception_score(fake.logits, settings.is_splits, settings.seed)
    if "kid" in metrics:
        values["kid"], values["kid_std"] = scores.kid(
            real.embeddings, fake.embeddings, settings.kid_subsets, settings.kid_subset_size, settings.seed
        )
    neighbourhood = [m for m in ("precision", "recall", "density", "coverage") if m in metrics]
    if neighbourhood:
        prdc = scores.precision_recall_density_coverage(
            real.embeddings, fake.embeddings, settings.pr_k, settings.dc_k, settings.pr_inclusive
        )
        values.update({m: prdc[m] for m in neighbourhood})
    return {metric_column(name, real): value for name, value in values.items()}


def evaluate(
    real: ImageSource,
    fake: ImageSource,
    nets: Sequence[FeatureNet],
    metrics: Sequence[str] | None = None,
    settings: MetricSettings = MetricSettings(),
    batch_size: int = 256,
) -> dict[str, float]:
    """Extract both sets with every network in one pass each, then score per network.

    With several networks, each standard one computes only the requested metrics it is the standard for
    (Inception: FID, IS, KID; VGG-16: precision, recall, density, coverage), so the papers' pairing gives one
    value per metric; a network standard for none of them (a classifier) computes them all.
    Returns the named metric columns of every network plus ``n_real`` and ``n_fake`` (images measured).
    """
    real_features = extract_features(real, list(nets), batch_size)
    fake_features = extract_features(fake, list(nets), batch_size)
    out: dict[str, float] = {
        "n_real": len(next(iter(real_features.values()))),
        "n_fake": len(next(iter(fake_features.values()))),
    }
    for net in nets:
        mine = metrics
        if metrics is not None and len(nets) > 1:
            mine = [m for m in metrics if m in net.plain_metrics] or (None if net.plain_metrics else metrics)
            if mine is None:
                continue  # a standard network none of whose metrics were asked for
        out.update(score(real_features[net.name], fake_features[net.name], mine, settings))
    return out
