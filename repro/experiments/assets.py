"""Shared assets of a scale (``config/scales/<scale>.yaml`` under ``assets``): where each lives, and whether
an experiment's parameters agree with how it was built.

An asset is one ``repro`` command run once per scale into ``work/<scale>/assets/<name>/`` (the workflow's
``asset`` rule, which moves the folder there only when the command finished). The registry repeats the
settings an asset was built with (``inversion_steps``, ``guidance``...) so that every experiment file states
its whole protocol; the two must agree. They share one naming: an asset's arguments are the command's options,
named as the registry's parameters (``inversion_steps: 4`` is ``repro invert --inversion-steps 4``), and the
command records the options it ran with beside its output (``arguments.json``). :func:`disagreements` compares
an experiment's parameters with either: statically, with the asset's arguments in the scale file (a test runs it
over every experiment and scale), and at run time, with the asset's record.

A seed resamples the synthetic data: ``<name>`` is sampled with seed 0 and ``<name>_seed<s>`` (the same command
with ``seed: s``) with seed s, from the same embeddings; :meth:`Assets.for_seed` reads the one of a seed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ReproError
from ..files import ARGUMENTS_FILE, read_json

#: the settings an asset of each kind is built with that an experiment reading it states too, by their one name.
#: The kind is the asset name's first word (``inversion_cifar10``: an inversion of cifar10), its dataset the rest.
#: Where a setting's name is the experiment's own setting too (its classifiers' ``train_steps``), the experiment
#: names the asset's one with the kind in front: ``teacher_train_steps`` is the ``train_steps`` of its teachers.
SETTINGS = {
    "inversion": ("generator", "resolution", "inversion_steps", "inversion_lr"),
    "synthetic": ("guidance", "noise", "interpolation", "checkpoints", "scheduler", "inference_steps", "uncond"),
    "teacher": ("train_steps",),
    "tokens": (
        "generator",
        "dtype",
        "inference_steps",
        "cat_prompt",
        "cat_lr",
        "cat_max_epochs",
        "cat_grad_accumulation",
        "cat_batch",
        "cat_stop_accuracy",
        "dag_step_rms",
    ),
    "ddis": ("generator", "dtype", "inference_steps", "cat_prompt", "images_per_class", "dag_step_rms"),
    "deepinversion": (
        "deepinversion_iterations",
        "deepinversion_batch",
        "deepinversion_lr",
        "deepinversion_r_feature",
        "images_per_class",
    ),
}
#: the kinds of :data:`SETTINGS` and the command each is built by
COMMANDS = {
    "inversion": "invert",
    "synthetic": "sample",
    "teacher": "train",
    "tokens": "ddis token",
    "ddis": "ddis sample",
    "deepinversion": "ddis deepinversion",
}
#: the kinds that are synthetic data, sampled with a seed (``<name>_seed<s>``)
RESAMPLED = ("synthetic", "ddis", "deepinversion")


#: ``synthetic_cifar10_seed2``: the asset ``synthetic_cifar10`` sampled with seed 2
SEEDED = re.compile(r"(?P<base>.+)_seed(?P<seed>[1-9][0-9]*)")


def seeded(name: str, seed: int) -> str:
    """The name of asset ``name`` sampled with ``seed`` (``name`` itself for seed 0)."""
    return name if int(seed) == 0 else f"{name}_seed{int(seed)}"


def asset_seed(name: str) -> int:
    """The seed an asset's name says it is sampled with (0 without a ``_seed<s>`` suffix)."""
    match = SEEDED.fullmatch(name)
    return int(match["seed"]) if match else 0


def asset_kind(name: str) -> tuple[str, str | None]:
    """``inversion_cifar10`` (or ``synthetic_cifar10_seed1``) -> (kind, ``cifar10``); an asset of no per-dataset
    kind -> (name, None)."""
    match = SEEDED.fullmatch(name)
    kind, _, dataset = (match["base"] if match else name).partition("_")
    return (kind, dataset) if kind in SETTINGS and dataset else (name, None)


def per_dataset(value: Any, dataset: str | None) -> Any:
    """A parameter that may be given per dataset (``{cifar10: 1000, imagenette: 300}``) resolved for one."""
    if isinstance(value, Mapping):
        if dataset not in value:
            raise ReproError(f"parameter {dict(value)} gives no value for dataset {dataset!r}")
        return value[dataset]
    return value


def _listed(value) -> list:
    return sorted(float(v) for v in value) if isinstance(value, (list, tuple)) else [float(value)]


def _equal(ours, theirs) -> bool:
    if isinstance(ours, (list, tuple)) or isinstance(theirs, (list, tuple)):
        return _listed(ours) == _listed(theirs)
    if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
        return float(ours) == float(theirs)
    return str(ours) == str(theirs)


def disagreements(kind: str, params: Mapping[str, Any], dataset: str | None, built: Mapping[str, Any]) -> list[str]:
    """Where an experiment's ``params`` contradict an asset of ``kind`` built with ``built`` (its arguments in the
    scale file, or the options its command recorded), for the settings :data:`SETTINGS` names. A setting the
    experiment states must be stated by the asset too (no default is guessed). Empty when they agree.

    Besides equal settings: an inversion must cover the experiment's images (all of the split, or at least as
    many per class as the experiment trains on) and save every checkpoint it samples from; a synthetic set
    must hold at least the variants per image the experiment uses.
    """
    found = []
    for setting in SETTINGS.get(kind, ()):
        param = next((p for p in (f"{kind}_{setting}", setting) if p in params), None)
        if param is None:
            continue
        ours, theirs = per_dataset(params[param], dataset), built.get(setting)
        if theirs is None:
            found.append(f"{param} = {ours} but the asset does not state {setting}")
        elif not _equal(ours, theirs):
            found.append(f"{param} = {ours} but the asset has {setting} = {theirs}")
    if kind == "inversion":
        wanted = per_dataset(params.get("per_class", "all"), dataset)
        covered = built.get("per_class")
        if covered is not None and (wanted == "all" or int(wanted) > int(covered)):
            found.append(f"per_class = {wanted} but the asset inverted only {covered} images per class")
        saved = built.get("checkpoints") or []
        needed = set(map(int, params.get("checkpoints") or [])) | set(
            map(int, (params.get("sweep") or {}).get("checkpoints", []))
        )
        missing = sorted(needed - set(map(int, saved)) - {int(built.get("inversion_steps") or 0)})
        if saved and missing:
            found.append(f"checkpoints {missing} are sampled from but the asset saves only {list(saved)}")
    if kind == "synthetic" and "per_image" in params:
        if int(params["per_image"]) > int(built.get("per_image") or 1):
            found.append(
                f"per_image = {params['per_image']} but the asset has only {built.get('per_image') or 1} "
                "variants per image"
            )
    return found


class Assets:
    """The shared assets of one scale, under ``work_dir`` (``work/<scale>``)."""

    def __init__(self, work_dir: str | Path, scale: str):
        self.root = Path(work_dir) / "assets"
        self.scale = scale

    def path(self, name: str) -> Path:
        """The folder of a finished asset; an unbuilt one is an error that says how to build it."""
        folder = self.root / name
        if not folder.is_dir():
            raise ReproError(
                f"asset {name!r} is not built at scale {self.scale} (no {folder}); list it under the experiment's "
                f"`assets` in config/experiments, or build it with `snakemake --cores all {folder}` (its command "
                f"is declared in config/scales/{self.scale}.yaml)"
            )
        return folder

    def checked(self, name: str, params: Mapping[str, Any]) -> Path:
        """:meth:`path`, after comparing ``params`` with the options the asset's command recorded when it built
        it (the registry and the scale file are compared by a test for every kind)."""
        folder = self.path(name)
        kind, dataset = asset_kind(name)
        if kind not in SETTINGS:
            return folder
        record = folder / ARGUMENTS_FILE
        if not record.exists():
            raise ReproError(
                f"asset {name!r} ({folder}) has no {ARGUMENTS_FILE}, the record of the options it was "
                f"built with (it predates the record): rebuild it (delete {folder} and rerun)"
            )
        recorded = read_json(record, "asset record", f"rebuild the asset (delete {folder} and rerun)")
        found = disagreements(kind, params, dataset, recorded)
        if kind in RESAMPLED and int(recorded.get("seed") or 0) != asset_seed(name):
            found.append(f"it was sampled with seed {recorded.get('seed')}, its name says seed {asset_seed(name)}")
        if recorded.get("weights") and "generator" in params:
            from ..generators.bundle import generator_fingerprint

            current = generator_fingerprint(params["generator"])
            if recorded["weights"] != current:
                found.append(
                    f"it was made with other weights of generator {params['generator']!r} "
                    f"(fingerprint {recorded['weights']}, now {current}: retrained or redirected)"
                )
        if found:
            raise ReproError(
                f"asset {name!r} ({folder}) does not fit this experiment: {'; '.join(found)}; where "
                f"settings differ, make config/scales/{self.scale}.yaml and the experiment's config "
                f"agree; then rebuild the asset (delete {folder} and rerun)"
            )
        return folder

    def for_seed(self, name: str, params: Mapping[str, Any], seed: int) -> Path:
        """:meth:`checked` of asset ``name`` as sampled with ``seed``: a seed resamples the synthetic data its
        classifier trains on, not only the classifier."""
        return self.checked(seeded(name, seed), params)

    def classifier(self, name: str, seed: int = 0) -> Path:
        """The checkpoint a ``repro train --save`` asset wrote."""
        path = self.path(name) / f"model-seed{seed}.pt"
        if not path.exists():
            raise ReproError(
                f"asset {name!r} holds no {path.name}; its `repro train` command needs --save and --seed {seed}"
            )
        return path
