"""The registry and the scale files agree: every asset an experiment lists is declared at that scale, built by
the command its kind names, and built with the settings the experiment states, under the same names
(repro.experiments.assets)."""

from __future__ import annotations

import pytest

from repro.cli import main
from repro.experiments.assets import (
    COMMANDS,
    RESAMPLED,
    SETTINGS,
    asset_kind,
    asset_seed,
    disagreements,
    seeded,
)
from repro.workflow.registry import SCALES, load_registry, load_scale
from tests.conftest import CONFIG_DIR

REGISTRY = load_registry(CONFIG_DIR)
CASES = [(e.id, s) for e in REGISTRY.values() for s in SCALES if not e.skip_reason(s)]


@pytest.mark.parametrize("experiment,scale", CASES)
def test_listed_assets_agree_with_the_experiment(experiment, scale):
    params = REGISTRY[experiment].params(scale)
    declared = load_scale(CONFIG_DIR, scale).get("assets", {})
    for name in REGISTRY[experiment].assets(scale):
        assert name in declared, f"{experiment} lists asset {name!r}, which config/scales/{scale}.yaml lacks"
        kind, dataset = asset_kind(name)
        if kind in COMMANDS:
            assert declared[name]["command"] == COMMANDS[kind], f"{name} must be built by repro {COMMANDS[kind]}"
        found = disagreements(kind, params, dataset, declared[name].get("args", {}))
        assert not found, f"{experiment} at {scale} vs asset {name}: {found}"


@pytest.mark.parametrize("experiment,scale", CASES)
def test_every_seed_reads_its_own_synthetic_set(experiment, scale):
    """A seed resamples the synthetic data: an experiment that reads a synthetic set lists it for each of its
    seeds."""
    listed = REGISTRY[experiment].assets(scale)
    for name in listed:
        if asset_kind(name)[0] in RESAMPLED and asset_seed(name) == 0:
            wanted = [seeded(name, seed) for seed in REGISTRY[experiment].params(scale)["seeds"]]
            assert set(wanted) <= set(listed), f"{experiment} at {scale} reads {name} but not {wanted}"


@pytest.mark.parametrize("scale", SCALES)
def test_seeded_assets_are_sampled_with_their_seed(scale):
    for name, spec in load_scale(CONFIG_DIR, scale).get("assets", {}).items():
        if asset_kind(name)[0] in RESAMPLED:
            assert int(spec["args"].get("seed", 0)) == asset_seed(name), f"{name} must be sampled with its seed"
    assert (
        asset_kind("synthetic_cifar10_seed2") == ("synthetic", "cifar10") and seeded("synthetic_x", 0) == "synthetic_x"
    )


@pytest.mark.parametrize("scale", SCALES)
def test_asset_dependencies_are_declared(scale):
    declared = load_scale(CONFIG_DIR, scale).get("assets", {})
    for name, spec in declared.items():
        for need in spec.get("needs", []):
            assert need in declared, f"asset {name} needs {need!r}, not declared in config/scales/{scale}.yaml"


def test_disagreements_name_each_contradiction():
    params = {
        "inversion_steps": 1000,
        "inversion_lr": 0.03,
        "resolution": {"cifar10": 64},
        "per_class": "all",
        "checkpoints": [300],
        "sweep": {"checkpoints": [100]},
    }
    built = {"inversion_steps": 500, "resolution": 64, "per_class": 4, "checkpoints": [300, 500]}
    found = disagreements("inversion", params, "cifar10", built)
    assert "inversion_steps = 1000 but the asset has inversion_steps = 500" in found
    assert "inversion_lr = 0.03 but the asset does not state inversion_lr" in found  # no default is guessed
    assert any("per_class = all" in f for f in found)
    assert any("checkpoints [100]" in f for f in found)
    assert not any("resolution" in f for f in found)
    assert disagreements(
        "synthetic", {"per_image": 5, "guidance": [2, 3]}, None, {"per_image": 3, "guidance": [3, 2]}
    ) == ["per_image = 5 but the asset has only 3 variants per image"]
    # the experiment's own train_steps is its classifiers'; teacher_train_steps is its teachers'
    assert (
        disagreements("teacher", {"train_steps": 4, "teacher_train_steps": 3000}, "imagenette", {"train_steps": 3000})
        == []
    )
    assert set(SETTINGS) == set(COMMANDS)


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_each_setting_is_an_option_of_the_command_under_the_same_name(kind, capsys):
    with pytest.raises(SystemExit):
        main([*COMMANDS[kind].split(), "--help"])
    options = capsys.readouterr().out
    for setting in SETTINGS[kind]:
        assert f"--{setting.replace('_', '-')} " in options, f"repro {COMMANDS[kind]} has no --{setting}"


#: kinds of asset the paper scale does without: its features and LECF filter are Inception/CLIP, not a pool
#: classifier (raw or round-tripped), and its ImageNet teacher is torchvision's, not trained by the suite
OFFLINE_ONLY = {"pool_classifier", "pool_judge", "teacher"}


@pytest.mark.parametrize("experiment", [e.id for e in REGISTRY.values() if not e.skip_reason("paper")])
def test_paper_scale_lists_the_kinds_of_asset_mini_reads(experiment):
    kinds = {scale: {asset_kind(n)[0] for n in REGISTRY[experiment].assets(scale)} for scale in ("mini", "paper")}
    missing = kinds["mini"] - kinds["paper"] - OFFLINE_ONLY
    assert not missing, f"{experiment} reads {sorted(missing)} assets at mini but lists none at paper"
