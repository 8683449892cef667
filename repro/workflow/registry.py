"""Workflow configuration and the registry of paper artifacts, validated against their schemas.

The registry is ``config/experiments/<id>.yaml``: one file per table or figure of the two papers, naming its
notebook, its parameters at each scale and the paper's own numbers. Parameters compose like detectron2's
``_BASE_``: ``config/experiments/_base.yaml`` holds named groups of defaults per scale, an experiment names the
groups it builds on (``base``) and lists only the params that differ from them. Errors name the file, the key and
the fix.

Every function takes the project's config folder (``config/`` of a checkout) explicitly: the Snakefile passes
its own (``workflow.basedir``), the command line ``--config-dir`` (default ``config`` in the working folder),
a notebook the ``config_dir`` its runner injects. The package never guesses where a checkout is.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..errors import ReproError
from ..paths import data_root

SCALES = ("smoke", "mini", "paper")
#: the groups of defaults the experiment files build on, beside them in config/experiments/
BASE_FILE = "_base.yaml"


@cache
def _schema(config_dir: Path, name: str) -> dict:
    path = Path(config_dir) / "schema" / f"{name}.schema.yaml"
    if not path.exists():
        raise ReproError(
            f"{path} does not exist: {config_dir} is not a project's config folder; pass the config/ "
            "folder of the checkout (--config-dir)"
        )
    return yaml.safe_load(path.read_text())


def _explain(error: jsonschema.ValidationError, what: str) -> str:
    """One sentence for the first schema violation: which key, what is wrong, how to fix it."""
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return f"{what}: unknown key(s) {unknown} at {where}; known keys are {allowed}"
    if error.validator == "enum":
        return f"{what}: {where} = {error.instance!r} is not one of {error.validator_value}"
    if error.validator == "type":
        return f"{what}: {where} = {error.instance!r} should be of type {error.validator_value}"
    return f"{what}: {where}: {error.message}"


def validate(config_dir: Path, instance: Any, schema_name: str, what: str) -> None:
    """Raise ReproError naming the offending key if ``instance`` violates ``<config_dir>/schema/<name>``."""
    validator = jsonschema.Draft202012Validator(_schema(Path(config_dir).resolve(), schema_name))
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise ReproError(_explain(errors[0], what))


def load_config(config_dir: Path, overrides: Mapping[str, Any] | None = None) -> dict:
    """``<config_dir>/config.yaml`` updated by ``overrides`` (Snakemake's --config), validated."""
    path = Path(config_dir) / "config.yaml"
    if not path.exists():
        raise ReproError(
            f"no config.yaml in {config_dir}: name the project's config folder (--config-dir, or run from the checkout)"
        )
    config = yaml.safe_load(path.read_text()) or {}
    config.update(overrides or {})
    validate(config_dir, config, "config", f"workflow configuration ({path.name} and --config)")
    data_root(config["data_root"])  # a data folder that does not exist stops the DAG, not its first job
    return config


def load_scale(config_dir: Path, scale: str) -> dict:
    if scale not in SCALES:
        raise ReproError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)} (--config scale=...)")
    spec = yaml.safe_load((Path(config_dir) / "scales" / f"{scale}.yaml").read_text()) or {}
    validate(config_dir, spec, "scale", f"scale file config/scales/{scale}.yaml")
    return spec


@dataclass(frozen=True)
class Experiment:
    """One paper artifact as the registry describes it."""

    id: str
    spec: dict = field(repr=False)  # the file as written
    root: Path = field(repr=False)  # the project holding config/ and notebooks/
    defaults: dict = field(repr=False, default_factory=dict)  # scale -> params of the groups it builds on

    @property
    def paper(self) -> str:
        return self.spec["paper"]

    @property
    def title(self) -> str:
        return self.spec["title"]

    @property
    def artifact(self) -> str:
        return self.spec["artifact"]

    @property
    def notebook(self) -> Path:
        return self.root / "notebooks" / f"{self.spec['notebook']}.py"

    @property
    def claims(self) -> list[dict]:
        return self.spec.get("claims", [])

    @property
    def paper_numbers(self) -> list[dict]:
        return self.spec["paper_numbers"]

    @property
    def timed(self) -> bool:
        """It measures run time: the workflow runs it alone on the GPU."""
        return bool(self.spec.get("timed", False))

    def skip_reason(self, scale: str) -> str | None:
        """Why this artifact does not run at ``scale``, or None when it does."""
        return self.spec["scales"][scale].get("skip")

    def stand_in(self, scale: str) -> str | None:
        return self.spec["scales"][scale].get("stand_in")

    def params(self, scale: str) -> dict:
        """Its parameters at ``scale``: the groups' defaults, replaced by the experiment's own values."""
        if self.skip_reason(scale):
            raise ReproError(f"experiment {self.id} does not run at scale {scale}: {self.skip_reason(scale)}")
        # a copy: a caller that changes a list in place must not change another experiment's defaults
        return copy.deepcopy({**self.defaults.get(scale, {}), **self.spec["scales"][scale]["params"]})

    def assets(self, scale: str) -> list[str]:
        """The shared assets (``config/scales/<scale>.yaml``) its notebook reads at ``scale``."""
        return list(self.spec["scales"][scale].get("assets", []))


def _read(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ReproError(f"{what} {path} is not valid YAML: {err}") from err


def load_bases(folder: Path) -> dict[str, dict[str, dict]]:
    """The groups of defaults in ``<folder>/_base.yaml``, group -> scale -> params, validated ({} without it)."""
    path = Path(folder) / BASE_FILE
    if not path.exists():
        return {}
    bases = _read(path, "base file") or {}
    validate(path.resolve().parent.parent, bases, "base", f"base file {path}")
    for group, scales in bases.items():
        names = {scale: sorted(scales[scale]) for scale in SCALES}
        if any(names[scale] != names[SCALES[0]] for scale in SCALES):
            raise ReproError(
                f"base file {path}: group {group!r} sets {names}; a group sets the same params at "
                "every scale, so that an experiment reads the same names at each"
            )
    return bases


def _defaults(spec: Mapping[str, Any], bases: Mapping[str, dict], path: Path) -> dict[str, dict]:
    """scale -> the params of the groups ``spec`` builds on (its ``base``), which must exist and not overlap."""
    unknown = [group for group in spec.get("base", []) if group not in bases]
    if unknown:
        raise ReproError(
            f"experiment file {path} builds on {unknown}, which {path.parent / BASE_FILE} does not "
            f"define; its groups are {sorted(bases)}"
        )
    origin: dict[str, str] = {}  # param -> the group that sets it
    for group in spec.get("base", []):
        for param in bases[group][SCALES[0]]:
            if param in origin:
                raise ReproError(
                    f"experiment file {path} builds on {origin[param]} and {group}, which both set "
                    f"{param!r}; a param comes from one group: name only one, or set it in the file"
                )
            origin[param] = group
    return {scale: {param: bases[group][scale][param] for param, group in origin.items()} for scale in SCALES}


def load_experiment(path: Path, bases: Mapping[str, dict] | None = None) -> Experiment:
    """Read and validate ``<project>/config/experiments/<id>.yaml`` (against ``<project>/config/schema``), with
    the groups of defaults it builds on (``bases``: those of ``_base.yaml`` beside it unless given)."""
    spec = _read(path, "experiment file")
    config_dir = path.resolve().parent.parent
    validate(config_dir, spec, "experiment", f"experiment file {path}")
    if spec["id"] != path.stem:
        raise ReproError(f"experiment file {path.name} declares id {spec['id']!r}; the id must equal the file name")
    bases = load_bases(path.parent) if bases is None else bases
    return Experiment(spec["id"], spec, root=config_dir.parent, defaults=_defaults(spec, bases, path))


def load_registry(config_dir: Path) -> dict[str, Experiment]:
    """Every experiment of the registry (``<config_dir>/experiments/<id>.yaml``) by id, each validated; files
    named ``_*.yaml`` there are not experiments (``_base.yaml``)."""
    folder = Path(config_dir) / "experiments"
    bases = load_bases(folder)
    paths = [p for p in sorted(folder.glob("*.yaml")) if not p.name.startswith("_")]
    experiments = {p.stem: load_experiment(p, bases) for p in paths}
    if not experiments:
        raise ReproError(f"no experiment files in {folder}; the registry is config/experiments/<id>.yaml")
    return experiments


def work_path(value: Any, work: str | Path) -> str:
    """``{work}`` in a scale file is that scale's work folder, ``work/<scale>``."""
    return str(value).replace("{work}", str(work))


def needed_assets(experiment: Experiment, scale: str, scale_spec: Mapping[str, Any]) -> list[str]:
    """The shared assets an experiment uses at ``scale``: those its scale entry lists, and the scale's own
    ``generator`` asset where the scale pretrains the generator that the short name ``mini`` points at."""
    names = experiment.assets(scale)
    if "mini_generator" in scale_spec and "generator" in scale_spec.get("assets", {}) and "generator" not in names:
        names.append("generator")
    return names


def awaited_assets(experiment: Experiment, scale: str, scale_spec: Mapping[str, Any]) -> set[str]:
    """The scale's assets an experiment waits for: those it uses and, through their ``needs``, those they are
    made from."""
    assets = scale_spec.get("assets", {})
    awaited, todo = set(), list(needed_assets(experiment, scale, scale_spec))
    while todo:
        name = todo.pop()
        if name in awaited or name not in assets:
            continue
        awaited.add(name)
        todo.extend(assets[name].get("needs", []))
    return awaited


def asset_demand(experiments: Iterable[Experiment], scale: str, scale_spec: Mapping[str, Any]) -> dict[str, int]:
    """How many of ``experiments`` wait for each asset of the scale, directly or through the assets it feeds: the
    workflow starts the most awaited first (its jobs' priority), so that an inversion that most notebooks need
    is not left behind jobs that one notebook needs."""
    demand = dict.fromkeys(scale_spec.get("assets", {}), 0)
    for experiment in experiments:
        for name in awaited_assets(experiment, scale, scale_spec):
            demand[name] += 1
    return demand


def select(registry: Mapping[str, Experiment], ids: list[str] | None) -> list[Experiment]:
    """The experiments named by ``ids`` (all when empty); an unknown id is an error that lists the known ones."""
    if not ids:
        return list(registry.values())
    unknown = [i for i in ids if i not in registry]
    if unknown:
        raise ReproError(f"unknown experiment id(s) {unknown}; known ids: {', '.join(registry)}")
    return [registry[i] for i in ids]
