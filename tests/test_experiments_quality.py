"""Image metrics follow each paper's settings: at paper scale Diffusion Inversion's are PyTorch-StudioGAN's
(Inception-v3 pool features for every metric, k = 5), and at the offline scales every unit names the stand-in
features and the k."""

from __future__ import annotations

import pytest

from repro.errors import ReproError
from repro.experiments import ExperimentRun, quality
from repro.workflow.registry import SCALES, load_registry
from tests.conftest import CONFIG_DIR

REGISTRY = load_registry(CONFIG_DIR)
WITH_METRICS = [e for e in REGISTRY.values() if any("features" in e.params(s) for s in SCALES if not e.skip_reason(s))]
#: the paper's metric settings: (features at paper scale, convention, (precision/recall k, density/coverage k))
PAPERS = {"diffusion_inversion": ("inception", "studiogan", (5, 5)), "ddis": ("inception", "torch-fidelity", (3, 5))}


class FakeNet:
    def __init__(self, device=None):
        self.name = type(self).__name__


class Inception(FakeNet):
    pass


class VGG(FakeNet):
    pass


def test_every_metric_experiment_is_known():
    assert {e.id for e in WITH_METRICS} == {
        "di_table2_lecf_quality",
        "di_fig8c_gaussian_noise",
        "di_fig8d_interpolation",
        "ddis_table_quality",
        "ddis_table_ablation",
    }


@pytest.mark.parametrize("experiment", WITH_METRICS, ids=lambda e: e.id)
def test_features_and_k_per_scale(experiment, monkeypatch, tmp_path):
    features, convention, ks = PAPERS[experiment.paper]
    paper = experiment.params("paper")
    assert (paper["features"], paper["metric_convention"]) == (features, convention)
    settings = quality.settings(convention)
    assert (settings.pr_k, settings.dc_k) == ks
    monkeypatch.setattr(quality, "InceptionFeatures", Inception)
    monkeypatch.setattr(quality, "VGG16Features", VGG)
    run = ExperimentRun(experiment.id, "paper", tmp_path, paper, device="cpu", work_dir=tmp_path)
    networks = [n.name for n in quality.feature_networks(run, features, convention)]
    # StudioGAN computes every metric on Inception's pool features; torch-fidelity pairs VGG-16 for P/R/D/C
    assert networks == (["Inception"] if convention == "studiogan" else ["Inception", "VGG"])
    for scale in ("smoke", "mini"):
        params = experiment.params(scale)
        assert (params["features"], params["metric_convention"]) == (quality.POOL_FEATURES, convention)
    assert f"k = {ks[0]}" in experiment.stand_in("mini")


def test_units_name_the_features_and_k(tmp_path):
    scores = {"fid@pool-resnet18": 3.0, "precision@pool-resnet18": 0.5, "coverage@pool-resnet18": 0.4, "n_real": 9}
    named = quality.with_k(scores, "torch-fidelity")
    assert set(named) == {"fid@pool-resnet18", "precision@pool-resnet18, k=3", "coverage@pool-resnet18, k=5", "n_real"}
    run = ExperimentRun("di_fig8d_interpolation", "smoke", tmp_path, {}, device="cpu", work_dir=tmp_path)
    quality.record_metrics(
        run, quality.with_k(scores, "studiogan"), tables={"Table 8": ["fid", "precision"]}, row="0.10"
    )
    assert run.frame()["unit"].tolist() == ["fid@pool-resnet18", "precision@pool-resnet18, k=5"]
    assert run.frame()["column"].tolist() == ["FID", "Precision"]
    with pytest.raises(ReproError, match="unknown metric_convention 'clean-fid'"):
        quality.with_k(scores, "clean-fid")


WITH_LECF = [e for e in REGISTRY.values() if any("lecf_filter" in e.params(s) for s in SCALES if not e.skip_reason(s))]


@pytest.mark.parametrize("experiment", WITH_LECF, ids=lambda e: e.id)
def test_lecf_is_filtered_offline_by_a_network_that_does_not_measure_it(experiment, tmp_path):
    """Below paper scale LECF's filter is the classifier of the pool's VAE round trips (the asset it lists), never
    the metrics' feature network: a filter that chose what it then measured would favour its own choice."""
    from repro.classifiers import build_model, save_classifier
    from repro.data import POOL_CLASSES

    for scale in ("smoke", "mini"):
        kind = experiment.params(scale)["lecf_filter"]
        assert kind == "pool-judge" and quality.FILTER_ASSETS[kind] in experiment.assets(scale)
        assert quality.FILTER_ASSETS[kind] != quality.FILTER_ASSETS[quality.POOL_FEATURES]
    params = experiment.params("mini")
    run = ExperimentRun(experiment.id, "mini", tmp_path / "out", params, device="cpu", work_dir=tmp_path)
    saved = save_classifier(
        build_model("cifar_resnet20", len(POOL_CLASSES), 32), run.assets.root / "pool_judge" / "model-seed0.pt"
    )
    assert quality.filter_network(run, "pool-judge").num_classes == len(POOL_CLASSES) and saved.exists()
    with pytest.raises(ReproError, match="not a pool-trained filter"):
        quality.filter_network(run, "clip")
