"""LECF: template prompts, exact filtering at the threshold, exact counts, determinism, errors, the shard format."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from repro.baselines.lecf import (
    LECF,
    POOL_TEMPLATES,
    ClassifierFilter,
    ClipZeroShotFilter,
    LECFConfig,
    language_enhancement,
    template_prompts,
)
from repro.errors import ReproError
from repro.generators.tiny import tiny_generator
from repro.sampling import SyntheticDataset

CLASSES = ["cat", "dog", "ship"]


class ContentFilter:
    """A deterministic stand-in filter: class probabilities drawn from a hash of the image's pixels."""

    name = "content"

    def __init__(self, classes=("ship", "horse", "cat", "dog"), zero=()):
        self.classes, self.zero, self.calls = list(classes), set(zero), 0

    def __call__(self, images):
        self.calls += 1
        raw = np.stack(
            [np.random.default_rng(zlib.crc32(image.tobytes())).random(len(self.classes)) + 1e-3 for image in images]
        )
        for name in self.zero:
            raw[:, self.classes.index(name)] = 0.0
        return torch.from_numpy(raw / raw.sum(axis=1, keepdims=True)).float()


THRESHOLD = 0.25


@pytest.fixture(scope="module")
def bundle():
    return tiny_generator(resolution=16)


def make(bundle, image_filter=None, classes=CLASSES, **settings) -> LECF:
    config = LECFConfig(**{"steps": 1, "batch": 16, "save_resolution": 8, "guidance": (2.0, 3.0), **settings})
    return LECF(bundle, classes, image_filter or ContentFilter(), config, progress=False)


@pytest.fixture(scope="module")
def swept(bundle):
    """One LECF run shared by the tests (generation is the slow part): 3 images per class at THRESHOLD."""
    image_filter = ContentFilter()
    lecf = make(bundle, image_filter)
    return lecf, image_filter, lecf.select(THRESHOLD, 3)


def test_prompts_are_the_pools_caption_templates(swept):
    assert POOL_TEMPLATES == ("a photo of a {}", "an art painting of a {}", "a cartoon of a {}")
    assert template_prompts(["chain_saw"]) == {
        "chain_saw": ["a photo of a chain saw", "an art painting of a chain saw", "a cartoon of a chain saw"]
    }
    lecf, _, kept = swept
    # attempt j of a class is generated from its template j mod 3
    for label, attempt, prompt in zip(kept.labels, kept.attempts, kept.prompts):
        assert prompt == POOL_TEMPLATES[attempt % 3].format(CLASSES[label])
    assert lecf.sampler.tables[0].ids == [t.format(c) for c in CLASSES for t in POOL_TEMPLATES]
    assert lecf.sampler.config.uncond == "empty"


def test_filter_keeps_exactly_the_images_scoring_at_least_the_threshold(swept):
    lecf, image_filter, kept = swept
    threshold = THRESHOLD
    np.testing.assert_array_equal(np.bincount(kept.labels, minlength=3), [3, 3, 3])
    assert kept.complete and (kept.scores >= threshold).all()
    # the scores recorded are the filter's probabilities of the intended class on the written images
    column = [image_filter.classes.index(c) for c in CLASSES]
    rescored = image_filter(kept.images).numpy()[np.arange(len(kept)), np.array(column)[kept.labels]]
    np.testing.assert_allclose(kept.scores, rescored, rtol=1e-6)
    for c in range(3):
        scores = lecf.attempt_scores(c)
        mine = kept.labels == c
        np.testing.assert_array_equal(kept.attempts[mine], np.flatnonzero(scores >= threshold)[:3])
        assert kept.attempts_used[c] == kept.attempts[mine][-1] + 1
        assert kept.acceptance[c] == pytest.approx(3 / kept.attempts_used[c])
    # rank-major order: the r-th kept image of every class, then rank r + 1
    np.testing.assert_array_equal(kept.labels, np.tile([0, 1, 2], 3))


def test_sets_are_deterministic_per_seed_whatever_the_batching(bundle, swept):
    lecf, _, a = swept
    b = make(bundle, batch=11).select(THRESHOLD, 3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.attempts, b.attempts)
    np.testing.assert_array_equal(a.w, b.w)
    assert set(np.unique(a.w)) <= {2.0, 3.0}
    other = make(bundle, seed=1).select(0.0, 1)
    assert not np.array_equal(lecf.select(0.0, 1).images, other.images)


def test_a_threshold_sweep_reuses_the_attempts(swept):
    lecf, image_filter, _ = swept
    calls = image_filter.calls
    everything = lecf.select(0.0, 2)  # threshold 0 keeps every attempt: the first two of each class
    assert image_filter.calls == calls
    np.testing.assert_array_equal(everything.attempts, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(everything.attempts_used, [2, 2, 2])
    assert everything.acceptance_rate == 1.0


def test_a_class_the_filter_never_accepts_is_reported_after_its_budget(bundle):
    lecf = make(bundle, ContentFilter(zero=["dog"]), max_attempts=3.0)
    with pytest.warns(UserWarning, match="dog"):
        kept = lecf.select(0.01, 1)
    assert not kept.complete
    assert kept.accepted.tolist() == [1, 0, 1] and kept.attempts_used.tolist() == [1, 3, 1]
    assert kept.summary()["per_class_acceptance"]["dog"] == {"accepted": 0, "attempts": 3, "rate": 0.0}


def test_unknown_classes_and_words_are_clear_errors(bundle):
    with pytest.raises(ReproError, match="does not know the classes \\['truck'\\]"):
        make(bundle, classes=["cat", "truck"])
    with pytest.raises(ReproError, match="does not know words"):
        make(bundle, ContentFilter(classes=["cat", "zebra"]), classes=["cat", "zebra"])
    with pytest.raises(ReproError, match="threshold"):
        make(bundle).select(1.5, 2)


def test_written_set_is_the_sampling_layers_shard_format_with_provenance(bundle, swept, tmp_path):
    lecf, _, kept = swept
    dataset = lecf.write(tmp_path / "lecf", THRESHOLD, 3, shard_size=4, dataset="demo")
    assert isinstance(dataset, SyntheticDataset) and dataset.complete and len(dataset) == 9
    assert dataset.classes == CLASSES and dataset.resolution == 8 and len(dataset.index["shards"]) == 3
    arrays = dataset.load()
    np.testing.assert_array_equal(arrays.images, kept.images)
    np.testing.assert_array_equal(arrays.provenance["variant"], kept.attempts)
    np.testing.assert_array_equal(arrays.provenance["seed"], kept.seeds)
    shards = list(dataset.shards())
    assert np.concatenate([s["prompt"] for s in shards]).tolist() == kept.prompts
    np.testing.assert_allclose(np.concatenate([s["score"] for s in shards]), kept.scores)
    assert (np.concatenate([s["threshold"] for s in shards]) == np.float32(THRESHOLD)).all()
    assert dataset.index["acceptance"]["per_class"] == 3 and dataset.index["config"]["filter"] == "content"
    # a rerun with the same settings finds the finished folder and generates nothing
    image_filter = ContentFilter()
    again = make(bundle, image_filter).write(tmp_path / "lecf", THRESHOLD, 3, shard_size=4, dataset="demo")
    assert image_filter.calls == 0 and len(again) == 9


def test_classifier_filter_is_the_classifiers_softmax():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(16 * 16 * 3, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)
    )
    image_filter = ClassifierFilter(model, ["cat", "dog", "ship"], name="pool-mlp", batch_size=4)
    images = np.random.default_rng(0).integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)
    expected = model(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).softmax(dim=1)
    torch.testing.assert_close(image_filter(images), expected.detach())
    from repro.classifiers import build_model

    with pytest.raises(ReproError, match="3 class names"):
        ClassifierFilter(build_model("cifar_resnet20", 4, 16), ["cat", "dog", "ship"])


def test_clip_filter_runs_with_local_weights_and_explains_missing_ones(tmp_path, monkeypatch):
    from transformers import CLIPConfig, CLIPModel

    from repro.generators.tokenizer import build_word_tokenizer

    tokenizer = build_word_tokenizer(["a photo of a cat dog ship ."], model_max_length=12)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=12,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=8,
    )
    CLIPModel(config).save_pretrained(tmp_path / "clip")
    tokenizer.save_pretrained(tmp_path / "clip")
    image_filter = ClipZeroShotFilter(CLASSES, source=str(tmp_path / "clip"))
    probabilities = image_filter(np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8))
    assert probabilities.shape == (5, 3)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(5))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ReproError, match="CLIP weights"):
        ClipZeroShotFilter(CLASSES, source=str(tmp_path / "missing"))
    with pytest.raises(ReproError, match="word-to-sentence T5"):
        language_enhancement(CLASSES, source=str(tmp_path / "missing"))


def test_language_enhancement_writes_distinct_sentences_per_class(tmp_path):
    from transformers import T5Config, T5ForConditionalGeneration

    from repro.generators.tokenizer import build_word_tokenizer

    tokenizer = build_word_tokenizer(["a cat dog sits on the mat runs in water"], model_max_length=16)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(tmp_path / "t5")
    tokenizer.save_pretrained(tmp_path / "t5")
    sentences = language_enhancement(["cat"], per_class=3, source=str(tmp_path / "t5"), batch=53)
    assert list(sentences) == ["cat"] and len(sentences["cat"]) == 3 == len(set(sentences["cat"]))
    assert all(sentences["cat"])
    assert sentences == language_enhancement(["cat"], per_class=3, source=str(tmp_path / "t5"), batch=53)
