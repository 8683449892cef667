"""Sweeps over sampling settings: expansion of ``sweep``, scratch names, metric rows, the claims' judgements."""

from __future__ import annotations

import json

import pytest

from repro.errors import ReproError
from repro.experiments import ExperimentRun
from repro.experiments.quality import record_metrics
from repro.experiments.sweeps import expand
from repro.files import ARGUMENTS_FILE

BASE = {
    "generator": "mini",
    "dtype": "fp32",
    "per_image": 1,
    "guidance": [2],
    "noise": 0.1,
    "interpolation": 0.1,
    "checkpoints": [4],
    "scheduler": "ddim",
    "inference_steps": 2,
    "uncond": "mean",
    "arch": "resnet18",
}


def test_every_combination_replaces_the_base_value_in_its_shape():
    settings = expand({**BASE, "sweep": {"checkpoints": [2, 4], "guidance": [0, 4]}})
    assert [s.point for s in settings] == [
        {"checkpoints": 2, "guidance": 0},
        {"checkpoints": 2, "guidance": 4},
        {"checkpoints": 4, "guidance": 0},
        {"checkpoints": 4, "guidance": 4},
    ]
    first = settings[0].sampling
    assert first["checkpoints"] == [2] and first["guidance"] == [0]  # list bases stay lists
    assert first["generator_source"] == "mini" and first["inference_steps"] == 2 and "arch" not in first
    scalar = expand({**BASE, "sweep": {"noise": [0.0, 0.4], "uncond": ["mean", "empty"]}})
    assert scalar[1].sampling["noise"] == 0.0 and scalar[1].sampling["uncond"] == "empty"
    assert scalar[1].label == "noise 0, uncond empty"


def test_without_a_sweep_there_is_one_base_setting():
    (only,) = expand({**BASE, "per_image": {"cifar10": 3}}, dataset="cifar10")
    assert only.point == {} and only.label == "base" and only.sampling["per_image"] == 3


def test_bad_sweeps_are_named():
    with pytest.raises(ReproError, match="only sampling settings"):
        expand({**BASE, "sweep": {"arch": ["resnet18"]}})
    with pytest.raises(ReproError, match="no base value"):
        expand({"guidance": [2], "sweep": {"noise": [0.1]}})
    with pytest.raises(ReproError, match="at least one value"):
        expand({**BASE, "sweep": {"noise": []}})


def test_scratch_names_say_the_swept_values():
    a, b = expand({**BASE, "sweep": {"noise": [0.0, 0.4]}})
    assert (a.scratch_name(), b.scratch_name("metrics")) == ("sample-noise0", "metrics-noise0.4")
    (base,) = expand(BASE)
    assert base.scratch_name() == "sample-base"


def test_metrics_are_recorded_under_the_paper_columns_with_the_feature_name(tmp_path):
    run = ExperimentRun(
        "di_fig8d_interpolation", "smoke", tmp_path / "out", {}, device="cpu", work_dir=tmp_path / "work"
    )
    scores = {
        "fid@pool-resnet18": 12.5,
        "precision@pool-resnet18": 0.8,
        "recall@pool-resnet18": 0.7,
        "density@pool-resnet18": 0.6,
        "coverage@pool-resnet18": 0.5,
        "n_real": 40,
        "n_fake": 40,
    }
    found = record_metrics(
        run, scores, tables={"Table 8": ["fid", "density"], "Table 5": ["fid"]}, row="0.10", interpolation=0.1
    )
    assert found["fid"] == 12.5 and found["coverage"] == 0.5
    frame = run.frame()
    assert frame[["table", "row", "column", "unit"]].values.tolist() == [
        ["Table 8", "0.10", "FID", "fid@pool-resnet18"],
        ["Table 8", "0.10", "Density", "density@pool-resnet18"],
        ["Table 5", "0.10", "FID", "fid@pool-resnet18"],
    ]
    assert set(frame["interpolation"]) == {0.1} and frame["metric"].tolist() == ["fid", "density", "fid"]
    record_metrics(run, scores, tables={"Quality": ["fid"]}, row="CIFAR-10", column="DDIS {metric}")
    assert run.frame()["column"].iloc[-1] == "DDIS FID"
    with pytest.raises(ReproError, match="Table 9 shows kid"):
        record_metrics(run, scores, tables={"Table 9": ["kid"]}, row="0.00")


def test_the_final_generator_reuses_the_checked_shared_inversion_and_early_ones_need_their_unet(tmp_path, monkeypatch):
    from repro.experiments.sweeps import generator_inversion
    from repro.generators.bundle import MINI_ENV

    assets = tmp_path / "work" / "assets"
    folder = assets / "inversion_cifar10"
    folder.mkdir(parents=True)
    (folder / ARGUMENTS_FILE).write_text(
        json.dumps(
            {"inversion_steps": 4, "inversion_lr": 0.03, "resolution": 64, "checkpoints": [2, 4], "generator": "mini"}
        )
    )
    params = {"generator": "mini", "resolution": 64, "inversion_steps": 4, "inversion_lr": 0.03, "checkpoints": [4]}
    run = ExperimentRun(
        "di_fig5_generator_quality", "smoke", tmp_path / "out", params, device="cpu", work_dir=tmp_path / "work"
    )
    assert generator_inversion(run, "cifar10", None, 1.0) == (folder, None)
    run.params["inversion_steps"] = 8
    with pytest.raises(ReproError, match="inversion_steps = 8"):
        generator_inversion(run, "cifar10", None, 1.0)
    run.params["inversion_steps"] = 4
    monkeypatch.setenv(MINI_ENV, str(tmp_path / "nowhere" / "mini"))
    with pytest.raises(ReproError, match="no mini UNet checkpoint at 10%"):
        generator_inversion(run, "cifar10", None, 0.1)


def test_an_early_generator_inverts_with_the_shared_inversions_batch(tmp_path, monkeypatch):
    """Figure 5's 10 % and 30 % UNets learn their embeddings with the settings of the final model's shared
    inversion, its batch included (a batch shares its random stream): not the stage-1 default."""
    from repro.experiments import generate
    from repro.experiments.sweeps import generator_inversion
    from repro.generators.bundle import MINI_ENV
    from repro.inversion import InversionConfig

    folder = tmp_path / "work" / "assets" / "inversion_cifar10"
    folder.mkdir(parents=True)
    recorded = {
        "inversion_steps": 4,
        "inversion_lr": 0.03,
        "resolution": 64,
        "checkpoints": [2, 4],
        "generator": "mini",
    }
    (folder / ARGUMENTS_FILE).write_text(json.dumps(recorded))
    (folder / "run.json").write_text(json.dumps({"config": {"batch": 7, "steps": 4}}))
    mini = tmp_path / "weights" / "mini"
    (mini.parent / "mini_checkpoints").mkdir(parents=True)
    (mini.parent / "mini_checkpoints" / "unet_010.safetensors").write_bytes(b"early")
    monkeypatch.setenv(MINI_ENV, str(mini))
    calls = []
    monkeypatch.setattr(generate, "invert_set", lambda run, images, name, **kw: calls.append(kw) or tmp_path / name)
    params = {"generator": "mini", "resolution": 64, "inversion_steps": 4, "inversion_lr": 0.03, "checkpoints": [4]}
    run = ExperimentRun(
        "di_fig5_generator_quality", "smoke", tmp_path / "out", params, device="cpu", work_dir=tmp_path / "work"
    )
    embeddings, unet = generator_inversion(run, "cifar10", list(range(5)), 0.1)
    assert embeddings == tmp_path / "inversion-cifar10-pretrain010" and unet.name == "unet_010.safetensors"
    assert calls[0]["batch"] == 7 != InversionConfig.batch and calls[0]["steps"] == 4
