"""The baselines as registry parameters name them: prompts, filters, settings-named LECF sets, the KNN corpus."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repro.baselines.lecf import ClassifierFilter, template_prompts
from repro.baselines.params import build_lecf, knn_retriever, lecf_filter, lecf_prompts, lecf_set
from repro.data import POOL_CLASSES, ImageSet
from repro.errors import ReproError
from repro.generators.tiny import tiny_generator
from tests.test_baselines_knn import MeanColour

CLASSES = ["cat", "dog"]


class PoolNet(torch.nn.Module):
    """A stand-in pool classifier: 25 outputs (the pool's classes), the first input pixel decides."""

    num_classes = len(POOL_CLASSES)

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(3, self.num_classes)
        self.calls = 0

    def forward(self, images):
        self.calls += 1
        return self.head(images.mean(dim=(2, 3)))


def test_prompts_and_filters_by_their_parameter_names():
    assert lecf_prompts("templates", CLASSES) == template_prompts(CLASSES)
    with pytest.raises(ReproError, match="unknown lecf_prompts"):
        lecf_prompts("sentences", CLASSES)
    for kind in ("pool-resnet18", "pool-judge"):  # the raw pool classifier, or the one of the round trips
        image_filter = lecf_filter(kind, CLASSES, PoolNet)
        assert isinstance(image_filter, ClassifierFilter) and image_filter.classes == list(POOL_CLASSES)
        assert image_filter.name == kind
        with pytest.raises(ReproError, match=f"lecf_filter={kind} needs its pool-trained classifier"):
            lecf_filter(kind, CLASSES)
    with pytest.raises(ReproError, match="unknown lecf_filter"):
        lecf_filter("vit", CLASSES, PoolNet)


@pytest.fixture(scope="module")
def bundle():
    return tiny_generator(resolution=16)


def test_lecf_sets_are_written_once_under_a_folder_named_by_their_settings(bundle, tmp_path):
    torch.manual_seed(0)
    net = PoolNet()
    make = lambda steps: build_lecf(  # noqa: E731 (a short factory, called with two budgets below)
        bundle,
        CLASSES,
        prompts="templates",
        filter="pool-resnet18",  # noqa: E731
        guidance=[2, 3],
        scheduler="ddim",
        steps=steps,
        resolution=None,
        save_resolution=8,
        precision="fp32",
        pool_classifier=lambda: net,
    )
    lecf = make(1)
    assert lecf.config.guidance == (2.0, 3.0) and lecf.config.steps == 1 and lecf.save_resolution == 8
    assert lecf.config.max_attempts == 20.0  # the layer's default budget
    first = lecf_set(lecf, tmp_path, 0.0, 2, dataset="demo")
    assert first.complete and len(first) == 4 and first.path.name.startswith("threshold0-per_class2-")
    calls = net.calls
    again = lecf_set(make(1), tmp_path, 0.0, 2, dataset="demo")  # a rerun: found, nothing generated
    assert again.path == first.path and net.calls == calls
    other = lecf_set(make(2), tmp_path, 0.0, 2, dataset="demo")  # another knob: another folder
    assert other.path != first.path and other.path.name.startswith("threshold0-per_class2-")
    np.testing.assert_array_equal(first.load().labels, [0, 1, 0, 1])
    # a threshold no image reaches: the budget (max_attempts x per_class attempts per class) is spent, none kept
    short = build_lecf(
        bundle,
        CLASSES,
        prompts="templates",
        filter="pool-resnet18",
        guidance=[2],
        scheduler="ddim",
        steps=1,
        resolution=None,
        save_resolution=8,
        precision="fp32",
        max_attempts=1.5,
        pool_classifier=lambda: net,
    )
    with pytest.warns(UserWarning, match="kept fewer"):
        empty = lecf_set(short, tmp_path, 1.0, 2)
    assert len(empty) == 0 and short.attempts_made(0) == short.attempts_made(1) == 3
    assert empty.index["acceptance"]["acceptance_rate"] == 0.0


class PoolColour(MeanColour):
    name = "pool-resnet18"


def test_the_knn_corpus_is_capped_per_pool_class_and_checked():
    rng = np.random.default_rng(0)
    labels = np.arange(30) % 3
    pool = ImageSet(
        rng.integers(0, 256, (30, 8, 8, 3), dtype=np.uint8),
        labels,
        ["a", "b", "c"],
        [f"p{i}" for i in range(30)],
        "pool",
    )
    whole = knn_retriever(pool, PoolColour(), source="pool", features="pool-resnet18")
    assert whole.pool is pool and len(whole.pool_features) == 30
    capped = knn_retriever(pool, PoolColour(), source="pool", features="pool-resnet18", corpus_per_class=4)
    assert capped.pool.class_counts().tolist() == [4, 4, 4]
    assert capped.pool.ids == pool.per_class(4, seed=0).ids
    with pytest.raises(ReproError, match="clip-retrieval"):
        knn_retriever(pool, PoolColour(), source="laion5b", features="clip")
    with pytest.raises(ReproError, match="knn_features"):
        knn_retriever(pool, MeanColour(), source="pool", features="pool-resnet18")
