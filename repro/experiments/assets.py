"""Shared assets of a scale (``config/scales/<scale>.yaml`` under ``assets``): where each lives, and whether
an experiment's parameters agree with how it was built.

An asset is one ``repro`` command run once per scale into ``work/<scale>/assets/<name>/`` (the workflow's
``asset`` rule, which moves the folder there only when the command finished). The registry repeats the
settings an asset was built with (``inversion_steps``, ``guidance``...) so that every experiment file states
its whole protocol; the two must agree. :func:`disagreements` compares them: statically, the registry against
the scale file (a test runs it over every experiment and scale), and at run time, the notebook's parameters
against what the asset recorded (``run.json`` of an inversion, ``index.json`` of a synthetic set).

A seed resamples the synthetic data: ``<name>`` is sampled with seed 0 and ``<name>_seed<s>`` (the same command
with ``seed: s``) with seed s, from the same embeddings; :meth:`Assets.for_seed` reads the one of a seed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from ..errors import ReproError
from ..files import read_json

#: a default the command derives itself (the generator's resolution, the preset's lr): not compared when absent
OWN = "the command's own"
#: experiment parameter -> (the asset's argument, the command's default), per kind of asset. The kind is the
#: asset name's first word (``inversion_cifar10``: an inversion of cifar10), its dataset the rest.
SAME = {
    "inversion": {"generator": ("generator", "mini"), "resolution": ("resolution", OWN),
                  "inversion_steps": ("steps", 3000), "inversion_lr": ("lr", 0.03)},
    "synthetic": {"guidance": ("guidance", [2.0]), "noise": ("noise", [0.1]),
                  "interpolation": ("interpolate", [0.1]), "checkpoints": ("checkpoints", OWN),
                  "scheduler": ("scheduler", "ddim"), "inference_steps": ("steps", 100), "uncond": ("uncond", "mean")},
    "teacher": {"teacher_train_steps": ("steps", OWN)},
    "tokens": {"generator": ("generator", "mini"), "dtype": ("dtype", "fp32"), "inference_steps": ("steps", 30),
               "cat_prompt": ("prompt", OWN), "cat_lr": ("lr", 0.005), "cat_max_epochs": ("epochs", 30),
               "cat_grad_accumulation": ("accumulation", 20), "cat_batch": ("images_per_step", 1),
               "cat_stop_accuracy": ("stop_share", 0.7), "dag_step_rms": ("dag_step_rms", None)},
    "ddis": {"generator": ("generator", "mini"), "dtype": ("dtype", "fp32"), "inference_steps": ("steps", 30),
             "cat_prompt": ("prompt", OWN), "images_per_class": ("per_class", OWN),
             "dag_step_rms": ("dag_step_rms", None)},
    "deepinversion": {"deepinversion_iterations": ("iterations", OWN), "deepinversion_batch": ("batch_size", OWN),
                      "deepinversion_lr": ("lr", OWN), "deepinversion_r_feature": ("r_feature", OWN),
                      "images_per_class": ("per_class", OWN)},
}
#: the kinds of :data:`SAME` and the command each is built by
COMMANDS = {"inversion": "invert", "synthetic": "sample", "teacher": "train", "tokens": "ddis token",
            "ddis": "ddis sample", "deepinversion": "ddis deepinversion"}


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
    return (kind, dataset) if kind in SAME and dataset else (name, None)


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


def disagreements(kind: str, params: Mapping[str, Any], dataset: str | None, built: Mapping[str, Any],
                  absent_is_default: bool = True) -> list[str]:
    """Where an experiment's ``params`` contradict an asset of ``kind`` (:data:`SAME`) built with ``built``
    (argument name -> value). Absent arguments take the command's default (the scale file's args), or, with
    ``absent_is_default=False``, are not compared (what an asset recorded: it records some settings only).
    Empty when they agree.

    Besides equal settings: an inversion must cover the experiment's images (all of the split, or at least as
    many per class as the experiment trains on) and save every checkpoint it samples from; a synthetic set
    must hold at least the variants per image the experiment uses.
    """
    found = []
    for param, (arg, default) in SAME.get(kind, {}).items():
        if param not in params or (arg not in built and not absent_is_default):
            continue
        ours, theirs = per_dataset(params[param], dataset), built.get(arg, default)
        if theirs is not OWN and not _equal(ours, theirs):
            found.append(f"{param} = {ours} but the asset has {arg} = {theirs}")
    if kind == "inversion":
        wanted = per_dataset(params.get("per_class", "all"), dataset)
        covered = built.get("per_class")
        if covered is not None and (wanted == "all" or int(wanted) > int(covered)):
            found.append(f"per_class = {wanted} but the asset inverted only {covered} images per class")
        saved = built.get("checkpoints") or []
        needed = set(map(int, params.get("checkpoints") or [])) | set(
            map(int, (params.get("sweep") or {}).get("checkpoints", [])))
        missing = sorted(needed - set(map(int, saved)) - {int(built.get("steps", 3000))})
        if saved and missing:
            found.append(f"checkpoints {missing} are sampled from but the asset saves only {list(saved)}")
    if kind == "synthetic" and "per_image" in params:
        if int(params["per_image"]) > int(built.get("per_image", 1)):
            found.append(f"per_image = {params['per_image']} but the asset has only {built.get('per_image', 1)} "
                         "variants per image")
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
        """:meth:`path`, after comparing ``params`` with the settings an inversion or synthetic set recorded
        when it was built (the registry and the scale file are compared by a test for every kind)."""
        folder = self.path(name)
        kind, dataset = asset_kind(name)
        recorded = _recorded(folder, kind)
        found = [] if recorded is None else disagreements(kind, params, dataset, recorded, absent_is_default=False)
        if recorded and "seed" in recorded and int(recorded["seed"]) != asset_seed(name):
            found.append(f"it was sampled with seed {recorded['seed']}, its name says seed {asset_seed(name)}")
        if recorded and recorded.get("weights") and "generator" in params:
            from ..generators.bundle import generator_fingerprint

            current = generator_fingerprint(params["generator"])
            if recorded["weights"] != current:
                found.append(f"it was made with other weights of generator {params['generator']!r} "
                             f"(fingerprint {recorded['weights']}, now {current}: retrained or redirected)")
        if found:
            raise ReproError(f"asset {name!r} ({folder}) does not fit this experiment: {'; '.join(found)}; where "
                             f"settings differ, make config/scales/{self.scale}.yaml and the experiment's config "
                             f"agree; then rebuild the asset (delete {folder} and rerun)")
        return folder

    def for_seed(self, name: str, params: Mapping[str, Any], seed: int) -> Path:
        """:meth:`checked` of asset ``name`` as sampled with ``seed``: a seed resamples the synthetic data its
        classifier trains on, not only the classifier."""
        return self.checked(seeded(name, seed), params)

    def classifier(self, name: str, seed: int = 0) -> Path:
        """The checkpoint a ``repro train --save`` asset wrote."""
        path = self.path(name) / f"model-seed{seed}.pt"
        if not path.exists():
            raise ReproError(f"asset {name!r} holds no {path.name}; its `repro train` command needs --save "
                             f"and --seed {seed}")
        return path


def _recorded(folder: Path, kind: str) -> dict | None:
    """The settings an asset wrote beside its output, under the CLI's argument names (None: it records none
    that :data:`SAME` compares, e.g. a teacher checkpoint)."""
    if kind == "inversion":
        run = read_json(folder / "run.json", "inversion record", "delete the asset's folder to build it again")
        return {**run["config"], "generator": run["generator"], "weights": run.get("weights")}
    if kind in ("synthetic", "ddis", "deepinversion"):
        index = read_json(folder / "index.json", "synthetic dataset index", "delete the asset's folder to build "
                          "it again")
        config = dict(index["config"])
        if kind == "synthetic":  # repro.sampling.run.sample_dataset's record
            config["weights"] = index.get("weights")
        if kind == "ddis":  # repro.ddis.sampler.sample_dataset's record
            config["dag_step_rms"] = (config.get("dag") or {}).get("step_rms")
        return config
    if kind == "tokens":
        from ..ddis.tokens import ClassTokens

        settings = ClassTokens.load(folder / "tokens.safetensors").metadata.get("settings")
        if settings is None:  # learned before tokens recorded their settings
            return None
        sampler, cat = settings["sampler"], settings["cat"]
        return {"steps": sampler["steps"], "prompt": sampler["prompt"], "dag_step_rms": sampler["dag"]["step_rms"],
                "weights": settings.get("generator"),
                **{k: cat[k] for k in ("lr", "epochs", "accumulation", "images_per_step", "stop_share")}}
    return None
