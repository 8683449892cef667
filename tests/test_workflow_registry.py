"""The configuration and registry are validated, and every error names the key and the fix."""

from __future__ import annotations

import pytest
import yaml

from repro.errors import ReproError
from repro.workflow.registry import SCALES, load_config, load_experiment, load_registry, load_scale, select
from tests.conftest import demo_spec


def test_default_config_is_valid_and_smoke():
    assert load_config()["scale"] == "smoke"


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"scael": "mini"}, "unknown key(s) ['scael']"),
        ({"scale": "huge"}, "'huge' is not one of ['smoke', 'mini', 'paper']"),
        ({"seeds": "0,1"}, "should be of type array"),
        ({"experiments": [3]}, "should be of type string"),
    ],
)
def test_bad_config_names_the_key(override, fragment):
    with pytest.raises(ReproError) as err:
        load_config(override)
    assert fragment in str(err.value)


@pytest.mark.parametrize("scale", SCALES)
def test_scale_files_are_valid(scale):
    assert load_scale(scale)["generator"]


def test_unknown_scale_is_an_error():
    with pytest.raises(ReproError, match="unknown scale 'large'"):
        load_scale("large")


def test_registry_loads_and_unknown_id_lists_known(demo_project):
    registry = load_registry(demo_project / "config" / "experiments")
    assert list(registry) == ["di_demo"]
    assert registry["di_demo"].notebook == demo_project / "notebooks" / "di_demo.py"
    with pytest.raises(ReproError, match=r"unknown experiment id\(s\) \['di_nope'\]; known ids: di_demo"):
        select(registry, ["di_nope"])


def test_experiment_with_unknown_key_is_rejected(tmp_path):
    spec = demo_spec()
    spec["paper_number"] = []
    path = tmp_path / "di_demo.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ReproError, match=r"unknown key\(s\) \['paper_number'\]"):
        load_experiment(path)


def test_experiment_id_must_match_file_name(tmp_path):
    path = tmp_path / "di_other.yaml"
    path.write_text(yaml.safe_dump(demo_spec()))
    with pytest.raises(ReproError, match="must equal the file name"):
        load_experiment(path)


def test_scale_needs_params_or_skip(tmp_path):
    spec = demo_spec(smoke={"stand_in": "x"}, mini={"params": {}}, paper={"skip": "no weights"})
    path = tmp_path / "di_demo.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ReproError, match="scales/smoke"):
        load_experiment(path)


def test_skipped_scale_gives_reason(demo_project):
    experiment = load_registry(demo_project / "config" / "experiments")["di_demo"]
    assert experiment.skip_reason("paper") == "needs Stable Diffusion weights"
    with pytest.raises(ReproError, match="does not run at scale paper: needs Stable Diffusion weights"):
        experiment.params("paper")
