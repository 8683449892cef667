"""The baselines as the registry's parameters name them (config/experiments/README.md), for the notebooks that
compare Diffusion Inversion with LECF and KNN retrieval (Tables 2, 3 and 10, Figures 7a and 7b).

- LECF: ``lecf_prompts`` (``templates``: the pool's caption templates; ``language_enhancement``: He et al.'s
  T5 sentences), ``lecf_filter`` (``pool-resnet18``: the pool classifier's confidence; ``clip``: CLIP zero-shot)
  and DI's sampling settings (``guidance``, ``scheduler``, ``inference_steps``, ``dtype``), since the paper
  states none of LECF's own; ``lecf_max_attempts``: the attempts budget per class, as a multiple of the images
  to keep (``LECFConfig.max_attempts``), after which a class that the filter rarely accepts stays short.
  Each kept set is written to a folder named by its settings (threshold, images per class and the hash of
  everything that changes the images), so a rerun finds it instead of generating again, and a changed knob
  writes a new folder instead of clashing with the old one.
- KNN retrieval: ``knn_source`` / ``knn_features`` (only the pool with pool-ResNet-18 features runs offline)
  and ``knn_corpus_per_class``: images of each pool class in the corpus (a seeded ``ImageSet.per_class``
  subset; ``all``: the whole pool). The method is the same at every size; the cap only lets a CPU run embed
  the corpus in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import ReproError
from ..provenance import config_hash, phase
from .knn import KnnRetriever, check_retrieval_source
from .lecf import LECF, ClassifierFilter, ClipZeroShotFilter, LECFConfig, language_enhancement, template_prompts

PROMPTS = ("templates", "language_enhancement")
#: ``pool-resnet18``: the pool classifier that also gives the metrics' features; ``pool-judge``: one trained on the
#: pool's VAE round trips (the mini stand-in for CLIP); ``clip``: He et al.'s CLIP zero-shot filter
FILTERS = ("pool-resnet18", "pool-judge", "clip")
POOL_FILTERS = ("pool-resnet18", "pool-judge")


def lecf_prompts(kind: str, classes: Sequence[str], device: str | torch.device = "cpu") -> dict[str, list[str]]:
    """The prompts of each class that ``lecf_prompts: kind`` names."""
    if kind == "templates":
        return template_prompts(classes)
    if kind == "language_enhancement":
        return language_enhancement(classes, device=device)
    raise ReproError(f"unknown lecf_prompts {kind!r}; use one of {', '.join(PROMPTS)}")


def lecf_filter(
    kind: str,
    classes: Sequence[str],
    pool_classifier: Callable[[], nn.Module] | None = None,
    device: str | torch.device = "cpu",
):
    """The filter network ``lecf_filter: kind`` names; ``pool_classifier`` returns the pool-trained classifier a
    ``pool-*`` filter scores with (called only for those), whose outputs are the pool's classes."""
    if kind in POOL_FILTERS:
        from ..data import POOL_CLASSES

        if pool_classifier is None:
            raise ReproError(f"lecf_filter={kind} needs its pool-trained classifier (repro.experiments.filter_network)")
        return ClassifierFilter(pool_classifier(), POOL_CLASSES, name=kind)
    if kind == "clip":
        return ClipZeroShotFilter(classes, device=device)
    raise ReproError(f"unknown lecf_filter {kind!r}; use one of {', '.join(FILTERS)}")


def build_lecf(
    bundle,
    classes: Sequence[str],
    *,
    prompts: str,
    filter: str,
    guidance,
    scheduler: str,
    steps: int,
    resolution: int | None,
    save_resolution: int | None,
    precision: str,
    seed: int = 0,
    max_attempts: float = LECFConfig.max_attempts,
    pool_classifier: Callable[[], nn.Module] | None = None,
    progress: bool = False,
) -> LECF:
    """LECF for ``classes`` with the generator ``bundle``, as an experiment's parameters describe it."""
    device = bundle.device
    guidance = tuple(guidance) if isinstance(guidance, (list, tuple)) else (guidance,)
    config = LECFConfig(
        guidance=guidance,
        scheduler=scheduler,
        steps=int(steps),
        seed=int(seed),
        resolution=resolution,
        save_resolution=save_resolution,
        precision=precision,
        max_attempts=float(max_attempts),
        compile=torch.device(device).type == "cuda",  # speed only: the kept images do not depend on it
    )
    return LECF(
        bundle,
        classes,
        lecf_filter(filter, classes, pool_classifier, device),
        config,
        prompts=lecf_prompts(prompts, classes, device),
        progress=progress,
    )


def lecf_set(lecf: LECF, root: str | Path, threshold: float, per_class: int, dataset: str | None = None):
    """The set of (``threshold``, ``per_class``) as a ``SyntheticDataset`` under ``root``, generated once."""
    digest = config_hash(lecf.dataset_config(threshold, per_class))
    folder = Path(root) / f"threshold{float(threshold):g}-per_class{int(per_class)}-{digest}"
    with phase("lecf"):  # prompting, the classifier filter's attempts and writing the set
        return lecf.write(folder, threshold, per_class, dataset=dataset)


def knn_retriever(pool, net, *, source: str, features: str, corpus_per_class="all", seed: int = 0) -> KnnRetriever:
    """KNN retrieval from ``pool`` (an ``ImageSet``) with the feature network ``net`` (named ``features``),
    the corpus cut to ``corpus_per_class`` images of each pool class (``all``: the whole pool)."""
    check_retrieval_source(source, features)
    if getattr(net, "name", features) != features:
        raise ReproError(f"knn_features={features!r} but the feature network given is {net.name!r}")
    corpus = pool if corpus_per_class in (None, "all") else pool.per_class(int(corpus_per_class), seed=seed)
    return KnnRetriever(corpus, net, name=features)
