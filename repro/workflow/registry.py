"""Workflow configuration and the registry of paper artifacts, validated against their schemas.

The registry is ``config/experiments/<id>.yaml``: one file per table or figure of the two papers, naming its
notebook, its parameters at each scale and the paper's own numbers. Errors name the file, the key and the fix.

Every function takes the project's config folder (``config/`` of a checkout) explicitly: the Snakefile passes
its own (``workflow.basedir``), the command line ``--config-dir`` (default ``config`` in the working folder),
a notebook the ``config_dir`` its runner injects. The package never guesses where a checkout is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from ..errors import ReproError
from ..paths import data_root

SCALES = ("smoke", "mini", "paper")


@lru_cache(maxsize=None)
def _schema(config_dir: Path, name: str) -> dict:
    path = Path(config_dir) / "schema" / f"{name}.schema.yaml"
    if not path.exists():
        raise ReproError(f"{path} does not exist: {config_dir} is not a project's config folder; pass the config/ "
                         "folder of the checkout (--config-dir)")
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
        raise ReproError(f"no config.yaml in {config_dir}: name the project's config folder (--config-dir, or run "
                         "from the checkout)")
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
    spec: dict = field(repr=False)
    root: Path = field(repr=False)  # the project holding config/ and notebooks/

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

    def skip_reason(self, scale: str) -> str | None:
        """Why this artifact does not run at ``scale``, or None when it does."""
        return self.spec["scales"][scale].get("skip")

    def stand_in(self, scale: str) -> str | None:
        return self.spec["scales"][scale].get("stand_in")

    def params(self, scale: str) -> dict:
        if self.skip_reason(scale):
            raise ReproError(f"experiment {self.id} does not run at scale {scale}: {self.skip_reason(scale)}")
        return dict(self.spec["scales"][scale]["params"])


def load_experiment(path: Path) -> Experiment:
    """Read and validate ``<project>/config/experiments/<id>.yaml`` (against ``<project>/config/schema``)."""
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ReproError(f"experiment file {path} is not valid YAML: {err}") from err
    config_dir = path.resolve().parent.parent
    validate(config_dir, spec, "experiment", f"experiment file {path}")
    if spec["id"] != path.stem:
        raise ReproError(f"experiment file {path.name} declares id {spec['id']!r}; the id must equal the file name")
    return Experiment(spec["id"], spec, root=config_dir.parent)


def load_registry(config_dir: Path) -> dict[str, Experiment]:
    """Every experiment of the registry (``<config_dir>/experiments/<id>.yaml``) by id, each validated."""
    folder = Path(config_dir) / "experiments"
    experiments = {p.stem: load_experiment(p) for p in sorted(folder.glob("*.yaml"))}
    if not experiments:
        raise ReproError(f"no experiment files in {folder}; the registry is config/experiments/<id>.yaml")
    return experiments


def work_path(value: Any, work: str | Path) -> str:
    """``{work}`` in a scale file is that scale's work folder, ``work/<scale>``."""
    return str(value).replace("{work}", str(work))


def needed_assets(experiment: Experiment, scale: str, scale_spec: Mapping[str, Any]) -> list[str]:
    """The shared assets an experiment uses at ``scale``: those its scale entry lists, and the scale's own
    ``generator`` asset where the scale pretrains the generator that the short name ``mini`` points at."""
    names = list(experiment.spec["scales"][scale].get("assets", []))
    if "mini_generator" in scale_spec and "generator" in scale_spec.get("assets", {}) and "generator" not in names:
        names.append("generator")
    return names


def select(registry: Mapping[str, Experiment], ids: list[str] | None) -> list[Experiment]:
    """The experiments named by ``ids`` (all when empty); an unknown id is an error that lists the known ones."""
    if not ids:
        return list(registry.values())
    unknown = [i for i in ids if i not in registry]
    if unknown:
        raise ReproError(f"unknown experiment id(s) {unknown}; known ids: {', '.join(registry)}")
    return [registry[i] for i in ids]
