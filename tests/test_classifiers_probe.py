"""Linear probe: learns separable features, is deterministic, standardises, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repro.classifiers import Recipe
from repro.classifiers.probe import LinearProbe, check_learner, fit_linear_probe
from repro.errors import ReproError
from repro.provenance import phase_seconds


def blobs(n_per_class: int, classes: int = 3, dim: int = 8, seed: int = 0, spread: float = 0.3):
    """Gaussian blobs around well-separated centres: a linearly separable problem."""
    rng = np.random.default_rng(seed)
    centres = np.eye(classes, dim) * 3.0
    labels = np.repeat(np.arange(classes), n_per_class)
    features = centres[labels] + spread * rng.normal(size=(len(labels), dim))
    return torch.tensor(features, dtype=torch.float32), labels


def test_the_recognised_learners():
    check_learner("pool-resnet18", "linear")
    with pytest.raises(ReproError, match="CLIP weights"):
        check_learner("clip", "classifier_tuning")
    with pytest.raises(ReproError, match="unknown few-shot learner"):
        check_learner("pool-resnet18", "full")


def test_a_probe_learns_separable_features_from_few_shots():
    train, train_labels = blobs(2)  # 2 shots per class, fewer than the batch
    test, test_labels = blobs(50, seed=1)
    before = phase_seconds().get("training", 0.0)
    probe = fit_linear_probe(train, train_labels, 3, Recipe.sgd(100, batch_size=128), seed=0, device="cpu")
    assert phase_seconds()["training"] > before  # Figure 7a's job counts its probes as training
    assert isinstance(probe, LinearProbe) and probe.num_classes == 3 and not probe.training
    assert probe.accuracy(test, test_labels) == 100.0
    assert probe.predict(test).dtype == torch.int64


def test_training_is_deterministic_per_seed():
    features, labels = blobs(10, spread=2.0)
    recipe = Recipe.sgd(20, batch_size=8)
    a = fit_linear_probe(features, labels, 3, recipe, seed=0, device="cpu")
    b = fit_linear_probe(features, labels, 3, recipe, seed=0, device="cpu")
    c = fit_linear_probe(features, labels, 3, recipe, seed=1, device="cpu")
    torch.testing.assert_close(a.linear.weight, b.linear.weight, rtol=0, atol=0)
    assert not torch.allclose(a.linear.weight, c.linear.weight)


def test_features_are_normalised_per_vector_so_their_scale_does_not_matter():
    features, labels = blobs(10, spread=1.0)
    recipe = Recipe.sgd(30, batch_size=16)
    plain = fit_linear_probe(features, labels, 3, recipe, seed=0, device="cpu")
    scaled = fit_linear_probe(features * 50.0, labels, 3, recipe, seed=0, device="cpu")
    torch.testing.assert_close(plain.linear.weight, scaled.linear.weight, rtol=1e-4, atol=1e-5)
    test, _ = blobs(20, seed=2, spread=1.0)
    assert torch.equal(plain.predict(test), scaled.predict(test * 50.0))
    # what the head sees: each vector at unit root-mean-square
    unit = torch.nn.functional.normalize(test, dim=1) * test.shape[1] ** 0.5
    torch.testing.assert_close(plain(test), plain.linear(unit))


def test_bad_inputs_are_clear_errors():
    features, labels = blobs(2)
    recipe = Recipe.sgd(2)
    with pytest.raises(ReproError, match="labels must lie"):
        fit_linear_probe(features, labels + 1, 3, recipe, device="cpu")
    with pytest.raises(ReproError, match="labels"):
        fit_linear_probe(features[:3], labels, 3, recipe, device="cpu")
    probe = fit_linear_probe(features, labels, 3, recipe, device="cpu")
    with pytest.raises(ReproError, match="do not fit"):
        probe.predict(torch.zeros(2, 5))
