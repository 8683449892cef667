"""The configuration and registry are validated, and every error names the key and the fix."""

from __future__ import annotations

import pytest
import yaml

from repro.errors import ReproError
from repro.workflow.registry import (
    SCALES,
    asset_demand,
    load_config,
    load_experiment,
    load_registry,
    load_scale,
    select,
)
from tests.conftest import CONFIG_DIR, demo_spec


def test_default_config_is_valid_and_smoke():
    assert load_config(CONFIG_DIR)["scale"] == "smoke"


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
        load_config(CONFIG_DIR, override)
    assert fragment in str(err.value)


@pytest.mark.parametrize("scale", SCALES)
def test_scale_files_are_valid(scale):
    assert load_scale(CONFIG_DIR, scale)["generator"]


def test_unknown_scale_is_an_error():
    with pytest.raises(ReproError, match="unknown scale 'large'"):
        load_scale(CONFIG_DIR, "large")


def test_registry_loads_and_unknown_id_lists_known(demo_project):
    registry = load_registry(demo_project / "config")
    assert list(registry) == ["di_demo"]
    assert registry["di_demo"].notebook == demo_project / "notebooks" / "di_demo.py"
    with pytest.raises(ReproError, match=r"unknown experiment id\(s\) \['di_nope'\]; known ids: di_demo"):
        select(registry, ["di_nope"])


def test_experiment_with_unknown_key_is_rejected(demo_project):
    spec = demo_spec()
    spec["paper_number"] = []
    path = demo_project / "config" / "experiments" / "di_demo.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ReproError, match=r"unknown key\(s\) \['paper_number'\]"):
        load_experiment(path)


def test_experiment_id_must_match_file_name(demo_project):
    path = demo_project / "config" / "experiments" / "di_other.yaml"
    path.write_text(yaml.safe_dump(demo_spec()))
    with pytest.raises(ReproError, match="must equal the file name"):
        load_experiment(path)


def test_scale_needs_params_or_skip(demo_project):
    spec = demo_spec(smoke={"stand_in": "x"}, mini={"params": {}}, paper={"skip": "no weights"})
    path = demo_project / "config" / "experiments" / "di_demo.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ReproError, match="scales/smoke"):
        load_experiment(path)


def test_skipped_scale_gives_reason(demo_project):
    experiment = load_registry(demo_project / "config")["di_demo"]
    assert experiment.skip_reason("paper") == "needs Stable Diffusion weights"
    with pytest.raises(ReproError, match="does not run at scale paper: needs Stable Diffusion weights"):
        experiment.params("paper")


def test_a_folder_that_is_no_config_folder_is_named(tmp_path):
    with pytest.raises(ReproError, match=f"no config.yaml in {tmp_path}: name the project's config folder"):
        load_config(tmp_path)
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "di_demo.yaml").write_text(yaml.safe_dump(demo_spec()))
    with pytest.raises(ReproError, match="is not a project's config folder"):
        load_registry(tmp_path)


def write_bases(project, bases: dict, **spec_changes):
    """A base file in the demo project, and the demo experiment changed by ``spec_changes``."""
    folder = project / "config" / "experiments"
    (folder / "_base.yaml").write_text(yaml.safe_dump(bases))
    (folder / "di_demo.yaml").write_text(yaml.safe_dump({**demo_spec(), **spec_changes}))
    return folder / "di_demo.yaml"


def test_params_compose_from_the_groups_an_experiment_names(demo_project):
    bases = {
        "common": {
            "smoke": {"seeds": [0], "dtype": "fp32"},
            "mini": {"seeds": [0, 1], "dtype": "bf16"},
            "paper": {"seeds": [0], "dtype": "bf16"},
        },
        "unused": {scale: {"noise": 0.1} for scale in SCALES},
    }
    write_bases(demo_project, bases, base=["common"])
    registry = load_registry(demo_project / "config")
    assert list(registry) == ["di_demo"]  # _base.yaml is no experiment
    demo = registry["di_demo"]
    # the group's values, replaced whole by the experiment's own (seeds), and nothing of a group it does not name
    assert demo.params("smoke") == {"sizes": [1, 2], "seeds": [0], "fail": False, "dtype": "fp32"}
    assert demo.params("mini") == {"sizes": [1, 2, 4], "seeds": [0, 1, 2], "fail": False, "dtype": "bf16"}
    demo.params("smoke")["seeds"].append(9)
    assert load_registry(demo_project / "config")["di_demo"].params("smoke")["seeds"] == [0]


@pytest.mark.parametrize(
    "bases, names, fragment",
    [
        ({}, ["common"], r"builds on \['common'\], which .*_base.yaml does not define; its groups are \[\]"),
        (
            {"a": {s: {"noise": 0.1} for s in SCALES}, "b": {s: {"noise": 0.2, "x": 1} for s in SCALES}},
            ["a", "b"],
            "builds on a and b, which both set 'noise'; a param comes from one group",
        ),
        (
            {"a": {"smoke": {"noise": 0.1}, "mini": {}, "paper": {"noise": 0.1}}},
            ["a"],
            "group 'a' sets .* a group sets the same params at every scale",
        ),
        ({"a": {"smoke": {"noise": 0.1}, "mini": {"noise": 0.1}}}, ["a"], "base file .*_base.yaml: a: 'paper'"),
    ],
)
def test_a_bad_composition_names_the_groups_and_the_fix(demo_project, bases, names, fragment):
    write_bases(demo_project, bases, base=names)
    with pytest.raises(ReproError, match=fragment):
        load_registry(demo_project / "config")


def test_asset_demand_counts_the_notebooks_waiting_for_each_asset_through_the_assets_it_feeds():
    registry = load_registry(CONFIG_DIR)
    spec = load_scale(CONFIG_DIR, "mini")
    runnable = [e for e in registry.values() if not e.skip_reason("mini")]
    demand = asset_demand(runnable, "mini", spec)
    assert set(demand) == set(spec["assets"])
    # every asset of the scale is awaited by some notebook: none costs GPU time for nothing
    assert min(demand.values()) >= 1, [name for name, n in demand.items() if n == 0]
    # an asset waits for what it needs, so what it needs is awaited at least as much (a teacher before its tokens)
    for name, asset in spec["assets"].items():
        for need in asset.get("needs", []):
            assert demand[need] >= demand[name], (need, name)
    # the ImageNette inversion feeds most of Diffusion Inversion's notebooks: the workflow starts it first
    assert max(demand, key=demand.get) == "inversion_imagenette"
    users = [e for e in runnable if "tokens_imagenette" in e.assets("mini")]
    assert demand["teacher_imagenette"] >= len(users) > 0
