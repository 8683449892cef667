"""The metric estimators against closed forms and against torch-fidelity and prdc on the same features."""

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from repro.errors import ReproError
from repro.metrics import CONVENTIONS, Features, MetricSettings, score, scores

# a reference of these tests only, which the device's image lacks: there `pytest -m gpu` collects past this module
compute_prdc = pytest.importorskip("prdc").compute_prdc


def gaussian(n, mean, cov, seed):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.multivariate_normal(mean, cov, size=n)).float()


def identity_features(x, logits=None):
    """Features as they are: the metric sees exactly the drawn vectors."""
    return Features("identity", frozenset(), x, logits)


@pytest.fixture(scope="module")
def pair():
    g = torch.Generator().manual_seed(0)
    return torch.randn(400, 24, generator=g), torch.randn(350, 24, generator=g) * 1.2 + 0.25


def test_identical_sets_score_perfectly(pair):
    real, _ = pair
    same = identity_features(real)
    values = score(same, same)
    assert abs(values["fid@identity"]) < 1e-9
    for name in ("precision", "recall", "coverage", "density"):
        assert values[f"{name}@identity"] == pytest.approx(1.0, abs=1e-12)


def test_frechet_distance_matches_the_closed_form_for_non_commuting_covariances():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    root1 = scipy.linalg.sqrtm(s1).real
    closed = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(root1 @ s2 @ root1).real)
    assert scores.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(closed, rel=1e-9)


def test_fid_of_two_sampled_gaussians_approaches_the_closed_form():
    mu1, mu2 = np.zeros(4), np.array([1.0, -0.5, 0.0, 2.0])
    var1, var2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([3.0, 1.0, 0.5, 0.25])
    closed = np.sum((mu1 - mu2) ** 2) + np.sum(var1 + var2 - 2 * np.sqrt(var1 * var2))
    real = identity_features(gaussian(40_000, mu1, np.diag(var1), 2))
    fake = identity_features(gaussian(40_000, mu2, np.diag(var2), 3))
    assert score(real, fake, ["fid"])["fid@identity"] == pytest.approx(closed, abs=0.06)


def test_fid_equals_torch_fidelity_and_the_pytorch_fid_formula(pair):
    real, fake = pair
    ours = scores.fid(real, fake)
    s_real, s_fake = fid_features_to_statistics(real.double()), fid_features_to_statistics(fake.double())
    theirs = fid_statistics_to_metric(s_fake, s_real, verbose=False)["frechet_inception_distance"]
    assert ours == pytest.approx(theirs, rel=1e-9)
    # pytorch-fid: scipy's sqrtm of the product instead of its eigenvalues.
    covmean = scipy.linalg.sqrtm(s_real["sigma"] @ s_fake["sigma"]).real
    diff = s_real["mu"] - s_fake["mu"]
    pytorch_fid = diff @ diff + np.trace(s_real["sigma"] + s_fake["sigma"] - 2 * covmean)
    assert ours == pytest.approx(pytorch_fid, rel=1e-7)


def test_inception_score_is_exp_of_the_mean_kl_on_a_hand_made_softmax():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.9, 0.05, 0.05]])
    marginal = p.mean(axis=0)
    expected = np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1)))
    mean, std = scores.inception_score(torch.from_numpy(np.log(p)), splits=1)
    assert mean == pytest.approx(expected, rel=1e-12) and std == 0.0
    # Confident predictions spread evenly over C classes score C (one split: the spread is exact).
    confident = torch.nn.functional.one_hot(torch.arange(500) % 5, 5).double() * 60
    assert scores.inception_score(confident, splits=1)[0] == pytest.approx(5.0, rel=1e-6)


def test_inception_score_equals_torch_fidelity_with_splits_and_shuffle():
    logits = torch.randn(230, 9, generator=torch.Generator().manual_seed(4)) * 3
    ours = scores.inception_score(logits, splits=10, seed=7)
    theirs = isc_features_to_metric(logits, splits=10, shuffle=True, rng_seed=7)
    assert ours == pytest.approx((theirs["inception_score_mean"], theirs["inception_score_std"]), rel=1e-12)


def test_kid_equals_torch_fidelity_and_is_near_zero_for_one_distribution(pair):
    real, fake = pair
    ours = scores.kid(real, fake, subsets=15, subset_size=120, seed=3)
    theirs = kid_features_to_metric(fake, real, kid_subsets=15, kid_subset_size=120, rng_seed=3, verbose=False)
    assert ours == pytest.approx(
        (theirs["kernel_inception_distance_mean"], theirs["kernel_inception_distance_std"]), rel=1e-5
    )
    twin = torch.randn(400, 24, generator=torch.Generator().manual_seed(9))
    same_mean, same_std = scores.kid(real, twin, subsets=30, subset_size=150)
    assert abs(same_mean) < 2 * same_std
    assert abs(same_mean) < 0.2 * ours[0]


def test_precision_recall_equal_torch_fidelity_and_prdc(pair):
    real, fake = pair
    ours = scores.precision_recall_density_coverage(real, fake, pr_k=3, dc_k=5)
    fidelity = prc_features_to_metric(fake, real, prc_neighborhood=3, verbose=False)
    reference = compute_prdc(real.numpy(), fake.numpy(), nearest_k=3)
    for name in ("precision", "recall"):
        assert ours[name] == pytest.approx(fidelity[name], abs=1e-6)
        assert ours[name] == pytest.approx(reference[name], abs=1e-12)
    assert 0.1 < ours["precision"] < 0.99 and 0.1 < ours["recall"] < 0.99  # a case that can tell them apart


def test_studiogan_counts_precision_and_recall_strictly_as_prdc_does():
    """On a grid, distances tie with radii: prdc (StudioGAN's code) leaves a sample on a ball's boundary out."""
    real = torch.arange(12, dtype=torch.float64).reshape(-1, 1)
    fake = real[::2] + 0.5
    fake = torch.cat([fake, torch.tensor([[-5.0], [20.0]], dtype=torch.float64)])
    reference = compute_prdc(real.numpy(), fake.numpy(), nearest_k=5)
    strict = scores.precision_recall_density_coverage(real, fake, pr_k=5, dc_k=5, pr_inclusive=False)
    inclusive = scores.precision_recall_density_coverage(real, fake, pr_k=5, dc_k=5)
    for name in ("precision", "recall", "density", "coverage"):
        assert strict[name] == pytest.approx(reference[name], abs=1e-12)
    assert inclusive["recall"] != strict["recall"] or inclusive["precision"] != strict["precision"]
    settings = CONVENTIONS["studiogan"]
    assert (settings.pr_k, settings.dc_k, settings.pr_inclusive) == (5, 5, False)


def test_density_coverage_equal_prdc_also_across_distance_blocks(pair, monkeypatch):
    real, fake = pair
    reference = compute_prdc(real.numpy(), fake.numpy(), nearest_k=5)
    whole = scores.precision_recall_density_coverage(real, fake, pr_k=5, dc_k=5)
    monkeypatch.setattr(scores, "_BLOCK_ELEMENTS", 37 * 350)  # many uneven row blocks
    blocked = scores.precision_recall_density_coverage(real, fake, pr_k=5, dc_k=5)
    for name in ("precision", "recall", "density", "coverage"):
        assert whole[name] == pytest.approx(reference[name], abs=1e-12)
        assert blocked[name] == pytest.approx(reference[name], abs=1e-12)


def test_metric_names_carry_the_feature_name_unless_standard(pair):
    real, fake = pair
    logits = torch.randn(len(fake), 4)
    named = score(identity_features(real), identity_features(fake, logits), settings=MetricSettings(kid_subsets=3))
    assert set(named) == {
        f"{m}@identity" for m in ("fid", "is", "is_std", "kid", "kid_std", "precision", "recall", "density", "coverage")
    }
    standard = Features("inception", frozenset({"fid", "is", "kid"}), real)
    values = score(standard, Features("inception", frozenset({"fid", "is", "kid"}), fake), ["fid", "precision"])
    assert set(values) == {"fid", "precision@inception"}


def test_bad_inputs_raise_repro_errors(pair):
    real, fake = pair
    with pytest.raises(ReproError, match="width"):
        scores.fid(real, fake[:, :10])
    with pytest.raises(ReproError, match="different networks"):
        score(identity_features(real), Features("other", frozenset(), fake))
    with pytest.raises(ReproError, match="logits"):
        score(identity_features(real), identity_features(fake), ["is"])
    with pytest.raises(ReproError, match="unknown metrics"):
        score(identity_features(real), identity_features(fake), ["fidd"])
    with pytest.raises(ReproError, match="more than 5 samples"):
        scores.precision_recall_density_coverage(real[:4], fake)
