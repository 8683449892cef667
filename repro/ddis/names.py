"""The labels of DDIS's result tables, spelled as the paper spells its rows and columns (so that a result recorded
under them sits beside the paper's number in the report): teacher domains, network pairs, methods, metrics.

    domain_row("pacs_art_painting")                 -> "PACS (Art Painting)"
    pair_row("imagenet", "resnet34", "resnet18")    -> "ImageNet-1k, ResNet-34 -> ResNet-18"
    method_column("deepinversion", "fid")           -> "DeepInversion FID"
"""

from __future__ import annotations

from ..errors import ReproError
from ..metrics.suite import PAPER_NAMES

#: dataset -> (the paper's dataset name, its domain); mini-world stand-ins spelled the same way
DOMAINS = {
    "imagenet": ("ImageNet-1k", "Photo"),
    "cifar10": ("CIFAR-10", "Photo"),
    "imagenette": ("ImageNette", "Photo"),
    "pacs_photo": ("PACS", "Photo"),
    "pacs_art_painting": ("PACS", "Art Painting"),
    "pacs_cartoon": ("PACS", "Cartoon"),
    "pacs_sketch": ("PACS", "Sketch"),
}
#: method (the registry's ``methods``) -> the paper's column prefix
METHODS = {"ddis": "DDIS", "deepinversion": "DeepInversion", "plug_in_inversion": "PlugInInversion"}
#: ablation variant (``variants``, the sampler's modes) -> the paper's row
VARIANTS = {
    "vanilla": "Vanilla SD",
    "cat": "SD + CAT (w/o DAG)",
    "dag": "SD + DAG (w/o CAT)",
    "ddis": "DDIS (DAG + CAT)",
}
#: metric (``metrics``) -> the paper's column
METRICS = PAPER_NAMES


def _label(table: dict, key: str, what: str) -> str:
    if key not in table:
        raise ReproError(f"no table label for {what} {key!r}; add it to repro/ddis/names.py ({', '.join(table)})")
    return table[key]


def arch_name(arch: str) -> str:
    """``resnet34`` -> ``ResNet-34``, ``cifar_resnet56`` -> ``ResNet-56``; other architectures as they are."""
    depth = arch.removeprefix("cifar_").removeprefix("resnet")
    return f"ResNet-{depth}" if arch.removeprefix("cifar_").startswith("resnet") and depth.isdigit() else arch


def domain_row(dataset: str) -> str:
    """The quality table's row of a teacher's domain: ``PACS (Art Painting)``."""
    name, domain = _label(DOMAINS, dataset, "dataset")
    return f"{name} ({domain})"


def pair_row(dataset: str, teacher: str, student: str) -> str:
    """The distillation row of a teacher -> student pair: ``ImageNet-1k, ResNet-34 -> ResNet-18`` (PACS domains
    keep their domain: ``PACS (Cartoon), ResNet-34 -> ResNet-18``)."""
    name, domain = _label(DOMAINS, dataset, "dataset")
    where = name if name != "PACS" else f"{name} ({domain})"
    return f"{where}, {arch_name(teacher)} -> {arch_name(student)}"


def method_column(method: str, metric: str | None = None) -> str:
    """``DDIS`` or, with a metric, ``DDIS FID``."""
    label = _label(METHODS, method, "method")
    return label if metric is None else f"{label} {_label(METRICS, metric, 'metric')}"


def variant_row(variant: str) -> str:
    """``cat`` -> ``SD + CAT (w/o DAG)`` (the ablation table's rows)."""
    return _label(VARIANTS, variant, "ablation variant")


def metric_label(metric: str) -> str:
    """``fid`` -> ``FID`` (the ablation table's columns)."""
    return _label(METRICS, metric, "metric")
