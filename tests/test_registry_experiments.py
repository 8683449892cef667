"""The registry covers every paper artifact, validates, and its parameters are consistent and documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from repro.workflow.registry import BASE_FILE, SCALES, load_bases, load_registry
from tests.conftest import CONFIG_DIR

REGISTRY = CONFIG_DIR / "experiments"
SCHEMA = CONFIG_DIR / "schema" / "experiment.schema.yaml"
#: every experiment as resolved: its groups' defaults with its own params over them
RESOLVED = load_registry(CONFIG_DIR)

#: The 21 experiment ids of DESIGN.md ("Paper artifacts").
EXPECTED_IDS = {
    "di_fig1_synthetic_scaling",
    "di_fig4_runtime",
    "di_fig5_generator_quality",
    "di_fig6_real_scaling",
    "di_table1_vae_information_loss",
    "di_table2_lecf_quality",
    "di_table3_knn_retrieval",
    "di_fig7a_fewshot",
    "di_fig7b_lecf_scaling",
    "di_fig7c_architectures",
    "di_table4_augmentations",
    "di_fig8a_train_steps_guidance",
    "di_fig8b_inference_steps_uncond",
    "di_fig8c_gaussian_noise",
    "di_fig8d_interpolation",
    "di_table6_vae_test",
    "di_table7_real_plus_synthetic",
    "ddis_table_quality",
    "ddis_table_ablation",
    "ddis_kd",
    "ddis_efficiency",
}

#: The claims issue 8 asks the status table to state, by the experiment and claim id that test them.
ISSUE8_CLAIMS = {
    "DI beats real data in low-data regimes": [("di_fig6_real_scaling", "beats_real_low_data")],
    "needs about 3x more data to match the full real set": [("di_fig1_synthetic_scaling", "matches_real_at_about_3x")],
    "mean-embedding unconditional beats the empty prompt": [
        ("di_fig8b_inference_steps_uncond", "mean_uncond_beats_empty")
    ],
    "small noise and interpolation help as the data grows": [
        ("di_fig8c_gaussian_noise", "noise_helps_as_data_grows"),
        ("di_fig8d_interpolation", "interpolation_helps_as_data_grows"),
    ],
    "beats LECF and KNN retrieval under distribution shift": [
        ("di_fig7b_lecf_scaling", "beats_lecf_under_shift"),
        ("di_table3_knn_retrieval", "beats_knn_under_shift"),
    ],
    "helps across architectures and combines with augmentations": [
        ("di_fig7c_architectures", "helps_across_archs"),
        ("di_table4_augmentations", "combines_with_augmentations"),
    ],
    "real + synthetic helps at low resolution": [("di_table7_real_plus_synthetic", "real_plus_synthetic_low_res")],
    "DDIS beats DeepInversion": [("ddis_table_quality", "ddis_beats_deepinversion")],
    "DAG and CAT are complementary": [("ddis_table_ablation", "dag_cat_complementary")],
    "DDIS distils a better student": [("ddis_kd", "ddis_distils_better_student")],
}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


#: the experiment files as written (``_base.yaml`` is no experiment)
SPECS = {p.stem: _load(p) for p in sorted(REGISTRY.glob("*.yaml")) if not p.name.startswith("_")}


def _runnable(name: str):
    """(scale, resolved params) for every scale at which the experiment runs."""
    for scale in SCALES:
        if not RESOLVED[name].skip_reason(scale):
            yield scale, RESOLVED[name].params(scale)


def test_registry_has_exactly_the_21_ids():
    assert set(SPECS) == EXPECTED_IDS


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_file_validates_and_names_itself(name):
    spec = SPECS[name]
    if SCHEMA.exists():
        jsonschema.Draft202012Validator(yaml.safe_load(SCHEMA.read_text())).validate(spec)
    assert spec["id"] == name
    assert spec["notebook"] == name
    assert spec["paper"] == ("ddis" if name.startswith("ddis_") else "diffusion_inversion")


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_every_scale_has_params_or_a_skip_reason(name):
    scales = SPECS[name]["scales"]
    assert set(scales) == set(SCALES)
    for scale, block in scales.items():
        assert ("params" in block) != ("skip" in block), f"{name}/{scale}: exactly one of params and skip"
        if "params" in block:
            assert isinstance(block["params"], dict) and block["params"], f"{name}/{scale}: empty params"
        else:
            assert block["skip"].strip(), f"{name}/{scale}: the skip reason is empty"
    assert scales["mini"].get("stand_in") or "skip" in scales["mini"], f"{name}: mini must say what stands in"


def test_claim_ids_are_unique_snake_case_and_complete():
    seen: dict[str, str] = {}
    for name, spec in SPECS.items():
        for claim in spec.get("claims", []):
            assert re.fullmatch(r"[a-z][a-z0-9_]*", claim["id"]), claim["id"]
            assert claim["id"] not in seen, f"claim {claim['id']} in both {seen.get(claim['id'])} and {name}"
            seen[claim["id"]] = name
            assert claim["text"].strip() and claim["check"].strip()
    for claim, places in ISSUE8_CLAIMS.items():
        for experiment, claim_id in places:
            assert seen.get(claim_id) == experiment, f"issue 8 claim {claim!r}: {claim_id} not in {experiment}"


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_seeds_follow_the_protocol(name):
    reports_std = any("std" in n for n in SPECS[name]["paper_numbers"])
    for scale, params in _runnable(name):
        seeds = params["seeds"]
        assert seeds and all(isinstance(s, int) for s in seeds) and len(set(seeds)) == len(seeds)
        if scale == "smoke":
            assert len(seeds) == 1, f"{name}: smoke runs one seed"
        if scale == "mini" and reports_std:
            assert len(seeds) >= 3, f"{name}: the paper reports mean and std, so mini needs >= 3 seeds"


def _values(params: dict, key: str) -> list:
    """A param's values across datasets: a per-dataset mapping gives all its values."""
    value = params.get(key)
    return list(value.values()) if isinstance(value, dict) else [value]


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_params_are_internally_consistent(name):
    for scale, params in _runnable(name):
        where = f"{name}/{scale}"
        steps = params.get("inversion_steps")
        checkpoints = list(params.get("checkpoints", [])) + list(params.get("sweep", {}).get("checkpoints", []))
        if checkpoints:
            assert all(1 <= c <= steps for c in checkpoints), f"{where}: checkpoints beyond inversion_steps"
        sizes = params.get("synthetic_sizes")
        if sizes:
            assert max(sizes) <= params["per_image"], f"{where}: per_image must cover the largest synthetic size"
        for fraction in params.get("real_fractions", []):
            assert 0 < fraction <= 1, where
        for ratio in params.get("ratios", []):
            assert isinstance(ratio, str) and re.fullmatch(r"\d+:\d+", ratio), f"{where}: ratio {ratio!r}"
        for per_class in _values(params, "per_class"):
            assert per_class is None or per_class == "all" or (isinstance(per_class, int) and per_class > 0)
        if "datasets" in params:
            for key in ("per_class", "resolution"):
                if isinstance(params.get(key), dict):
                    assert set(params[key]) == set(params["datasets"]), f"{where}: {key} keys != datasets"
        for sweep_key in params.get("sweep", {}):
            assert sweep_key in params, f"{where}: sweep over {sweep_key}, which has no base value"
        if scale == "paper" and params.get("generator") in ("sd14", "sd21"):
            assert params["generator"] == ("sd21" if name.startswith("ddis_") else "sd14"), where


def test_smoke_is_tiny():
    for name, experiment in RESOLVED.items():
        params = {} if experiment.skip_reason("smoke") else experiment.params("smoke")
        limits = {
            "per_class": 4,
            "train_steps": 4,
            "images_per_class": 2,
            "test_per_class": 5,
            "cat_max_epochs": 1,
            "deepinversion_iterations": 2,
            "timed_steps": 4,
            "timed_inference_steps": 2,
        }
        if "timed_steps" not in params:  # timing experiments time a few steps and project to the paper's counts
            limits.update(inversion_steps=4, inference_steps=2, per_image=3)
        for key, limit in limits.items():
            for value in _values(params, key):
                assert value is None or value <= limit, f"{name}: smoke {key}={value} is above {limit}"


def _documented_params() -> set[str]:
    readme = (REGISTRY / "README.md").read_text()
    names: set[str] = set()
    for line in readme.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([a-z_]+)`", first_cell))
    return names


def test_every_param_is_documented_in_the_readme():
    documented = _documented_params()
    used = {key for name in SPECS for _, params in _runnable(name) for key in params}
    assert used - documented == set(), "document these params in config/experiments/README.md"
    assert documented - used == set(), "the README documents params no experiment uses"


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_an_experiment_lists_only_what_differs_from_its_groups(name):
    """A value equal to the one its groups give belongs to the groups alone: one place per setting."""
    bases = load_bases(REGISTRY)
    for scale in SCALES:
        given = {}
        for group in SPECS[name].get("base", []):
            given.update(bases[group][scale])
        own = SPECS[name]["scales"][scale].get("params", {})
        repeated = sorted(k for k, v in own.items() if k in given and json.dumps(v) == json.dumps(given[k]))
        assert not repeated, f"{name} at {scale} repeats {repeated} of its groups in {BASE_FILE}; delete them"


def test_every_group_is_built_on():
    used = {group for spec in SPECS.values() for group in spec.get("base", [])}
    assert set(load_bases(REGISTRY)) - used == set(), f"no experiment builds on these groups of {BASE_FILE}"
