"""The registry covers every paper artifact, validates, and its parameters are consistent and documented."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import REPO

REGISTRY = REPO / "config" / "experiments"
SCHEMA = REPO / "config" / "schema" / "experiment.schema.yaml"
SCALES = ("smoke", "mini", "paper")

#: The 21 experiment ids of DESIGN.md ("Paper artifacts").
EXPECTED_IDS = {
    "di_fig1_synthetic_scaling", "di_fig4_runtime", "di_fig5_generator_quality", "di_fig6_real_scaling",
    "di_table1_vae_information_loss", "di_table2_lecf_quality", "di_table3_knn_retrieval", "di_fig7a_fewshot",
    "di_fig7b_lecf_scaling", "di_fig7c_architectures", "di_table4_augmentations",
    "di_fig8a_train_steps_guidance", "di_fig8b_inference_steps_uncond", "di_fig8c_gaussian_noise",
    "di_fig8d_interpolation", "di_table6_vae_test", "di_table7_real_plus_synthetic",
    "ddis_table_quality", "ddis_table_ablation", "ddis_kd", "ddis_efficiency",
}

#: The claims issue 8 asks the status table to state, by the experiment and claim id that test them.
ISSUE8_CLAIMS = {
    "DI beats real data in low-data regimes": [("di_fig6_real_scaling", "beats_real_low_data")],
    "needs about 3x more data to match the full real set": [("di_fig1_synthetic_scaling", "matches_real_at_about_3x")],
    "mean-embedding unconditional beats the empty prompt": [
        ("di_fig8b_inference_steps_uncond", "mean_uncond_beats_empty")],
    "small noise and interpolation help as the data grows": [
        ("di_fig8c_gaussian_noise", "noise_helps_as_data_grows"),
        ("di_fig8d_interpolation", "interpolation_helps_as_data_grows")],
    "beats LECF and KNN retrieval under distribution shift": [
        ("di_fig7b_lecf_scaling", "beats_lecf_under_shift"), ("di_table3_knn_retrieval", "beats_knn_under_shift")],
    "helps across architectures and combines with augmentations": [
        ("di_fig7c_architectures", "helps_across_archs"), ("di_table4_augmentations", "combines_with_augmentations")],
    "real + synthetic helps at low resolution": [("di_table7_real_plus_synthetic", "real_plus_synthetic_low_res")],
    "DDIS beats DeepInversion": [("ddis_table_quality", "ddis_beats_deepinversion")],
    "DAG and CAT are complementary": [("ddis_table_ablation", "dag_cat_complementary")],
    "DDIS distils a better student": [("ddis_kd", "ddis_distils_better_student")],
}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


SPECS = {p.stem: _load(p) for p in sorted(REGISTRY.glob("*.yaml"))}


def _runnable(spec: dict):
    """(scale, params) for every scale at which the experiment runs."""
    for scale in SCALES:
        block = spec["scales"][scale]
        if "params" in block:
            yield scale, block["params"]


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
    spec = SPECS[name]
    reports_std = any("std" in n for n in spec["paper_numbers"])
    for scale, params in _runnable(spec):
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
    for scale, params in _runnable(SPECS[name]):
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
    for name, spec in SPECS.items():
        params = spec["scales"]["smoke"].get("params", {})
        limits = {"per_class": 4, "train_steps": 4, "images_per_class": 2, "test_per_class": 5,
                  "cat_max_epochs": 1, "deepinversion_iterations": 2, "timed_steps": 4, "timed_inference_steps": 2}
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
    used = {key for spec in SPECS.values() for _, params in _runnable(spec) for key in params}
    assert used - documented == set(), "document these params in config/experiments/README.md"
    assert documented - used == set(), "the README documents params no experiment uses"
