"""The GPU benchmarks' CPU smoke runs (``--tiny``): the code they time runs, and their CSVs say what they promise."""

from __future__ import annotations

import runpy

import pandas as pd
import pytest

from repro.provenance import PROVENANCE_COLUMNS
from tests.conftest import REPO


def bench(name: str, *args: str) -> None:
    assert runpy.run_path(str(REPO / "bench" / f"{name}.py"))["main"](list(args)) == 0


def test_classifier_speed_times_one_training_and_a_grid_trained_together(tmp_path):
    bench("classifier_speed", "--out", str(tmp_path), "--tiny", "--modes", "plain")
    table = pd.read_csv(tmp_path / "classifier_speed.csv")
    assert set(PROVENANCE_COLUMNS) <= set(table.columns)
    single, grid = table.set_index("mode").loc[["plain", "grid of 2"]].to_dict("records")
    assert (single["trainings"], grid["trainings"]) == (1, 2) and single["images_per_second"] > 0
    assert grid["images_per_second"] > 0 and grid["per_training_images_per_second"] > 0
    assert grid["single_images_per_second"] == single["images_per_second"]  # the experiments' path beside it
    assert table["train_gflop_per_image"].gt(0).all() and table["achieved_tflops"].notna().all()


def test_ddis_speed_gives_every_unit_beside_the_papers_figure(tmp_path):
    bench("ddis_speed", "--out", str(tmp_path), "--tiny")
    table = pd.read_csv(tmp_path / "ddis_speed.csv").set_index("unit")
    assert set(PROVENANCE_COLUMNS) <= set(table.columns) | {"unit"}
    units = ["class token", "DAG image", "DeepInversion image", "DDIS image, tokens included"]
    assert list(table.index) == units
    assert table["seconds"].gt(0).all() and table["gflop_per_unit"].gt(0).all()
    assert table.loc["class token", "paper_seconds"] == 450
    assert table.loc["DeepInversion image", "paper_seconds"] == pytest.approx(18_444 * 36 / 1000)
    assert table.loc["DDIS image, tokens included", "paper_seconds"] == pytest.approx(4.536)
    assert pd.isna(table.loc["DAG image", "paper_seconds"]) and "not given" in table.loc["DAG image", "paper_source"]
    assert table["paper_source"].str.contains("ddis.txt line").all()


def test_pretrain_speed_times_both_stages_for_every_attention_backend(tmp_path):
    bench("pretrain_speed", "--out", str(tmp_path), "--tiny", "--attention", "default,math")
    table = pd.read_csv(tmp_path / "pretrain_speed.csv")
    assert set(PROVENANCE_COLUMNS) <= set(table.columns)
    unet = table[table["stage"] == "unet"]
    assert sorted(set(unet["attention"])) == ["default", "math"] and len(unet) == 4  # 2 backends x 2 batches
    assert list(table[table["stage"] == "autoencoder"]["attention"]) == ["default"]
    assert table["images_per_second"].gt(0).all() and table["flops_per_image"].gt(0).all()


@pytest.mark.parametrize("name", ["inversion_speed", "sampling_speed"])
def test_generator_benches_write_a_row_per_case(tmp_path, monkeypatch, name):
    monkeypatch.syspath_prepend(str(REPO / "bench"))  # sampling_speed builds its generator with inversion_speed's
    bench(name, "--out", str(tmp_path), "--tiny")
    table = pd.read_csv(tmp_path / f"{name}.csv")
    assert set(PROVENANCE_COLUMNS) <= set(table.columns)
    assert (table["status"] == "ok").all() and len(table) >= 2
    rate = "image_steps_per_second" if name == "inversion_speed" else "unet_evaluations_per_second"
    assert table[rate].gt(0).all() and table["achieved_tflops"].gt(0).all()
