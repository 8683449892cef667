"""Class Alignment Tokens: vocabulary entries, training that touches nothing but their rows, early stopping."""

import pytest
import torch
from torch import nn

from repro.ddis.cat import CATConfig, learn_class_tokens
from repro.ddis.dag import DAGConfig
from repro.ddis.sampler import DDISSampler, SamplerConfig
from repro.ddis.tokens import ClassTokens, TokenSplice
from repro.errors import ReproError
from repro.generators.tiny import tiny_generator
from repro.provenance import phase_seconds

from .test_classifiers_batchnorm import tiny_bn_teacher

CLASSES = ["cat", "dog", "airplane"]
SAMPLING = SamplerConfig(steps=3, teacher_resolution=16, dag=DAGConfig(eta=1.0))


class AlwaysPredicts(nn.Module):
    """A BatchNorm 'teacher' whose answer is fixed: class ``label`` for every image."""

    def __init__(self, label: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.register_buffer("logits", torch.nn.functional.one_hot(torch.tensor(label), num_classes).float() * 10)

    def forward(self, x):
        return self.bn(x).mean() * 0 + self.logits.expand(len(x), -1)


def snapshot(module: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_install_adds_one_entry_per_class_and_the_prompt_reaches_its_vector():
    bundle = tiny_generator()
    old_rows = bundle.text_encoder.get_input_embeddings().weight.detach().clone()
    tokens = ClassTokens(CLASSES, torch.randn(3, bundle.text_width))
    ids = tokens.install(bundle)
    assert ids == list(range(len(old_rows), len(old_rows) + 3))
    assert tokens.install(bundle) == ids  # idempotent
    weight = bundle.text_encoder.get_input_embeddings().weight
    assert torch.equal(weight[: len(old_rows)], old_rows)
    assert torch.equal(weight[ids], tokens.vectors)
    encoded = bundle.tokenizer("a <ddis-dog> dog").input_ids
    assert encoded[2] == ids[1] and encoded[3] == bundle.tokenizer.convert_tokens_to_ids("dog")
    with pytest.raises(ReproError, match="wide"):
        ClassTokens(CLASSES, torch.randn(3, 7)).install(bundle)


def test_splice_gradient_reaches_only_the_class_in_the_prompt():
    bundle = tiny_generator()
    tokens = ClassTokens.initial(bundle, CLASSES)
    splice = TokenSplice(bundle, tokens.install(bundle), tokens.vectors)
    out = bundle.encode_text(["a <ddis-dog> dog", "a cat"])
    out.square().sum().backward()
    grads = [v.grad for v in splice.vectors]
    assert grads[1].abs().sum() > 0
    assert grads[0].abs().sum() == 0 and grads[2].abs().sum() == 0
    splice.remove()


def test_training_changes_only_the_new_rows(tmp_path):
    bundle = tiny_generator()
    rows = bundle.text_encoder.get_input_embeddings().weight.shape[0]
    before = {part: snapshot(getattr(bundle, part)) for part in ("unet", "vae", "text_encoder")}
    initial = ClassTokens.initial(bundle, CLASSES)
    teacher = tiny_bn_teacher(num_classes=3)
    teacher_before = snapshot(teacher)
    learning = phase_seconds().get("tokens", 0.0)
    tokens, history = learn_class_tokens(
        bundle, teacher, CLASSES, SAMPLING, CATConfig(epochs=2, accumulation=2, stop_share=1.0), progress=False
    )
    assert phase_seconds()["tokens"] > learning  # a workflow job's phases count it
    for part in ("unet", "vae"):
        after = snapshot(getattr(bundle, part))
        assert all(torch.equal(before[part][k], after[k]) for k in after), part
    after = snapshot(bundle.text_encoder)
    (key,) = [k for k in after if k.endswith("token_embedding.weight")]
    for k, v in after.items():
        if k == key:
            assert torch.equal(v[:rows], before["text_encoder"][k]) and len(v) == rows + 3
            assert torch.equal(v[rows:], tokens.vectors)
        else:
            assert torch.equal(v, before["text_encoder"][k]), k
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in teacher_before.items())
    assert not torch.equal(tokens.vectors, initial.vectors)  # the tokens did learn
    assert [(h["epoch"], h["class"]) for h in history] == [(e, c) for e in range(2) for c in CLASSES]
    saved = tokens.save(tmp_path / "tokens.safetensors")
    loaded = ClassTokens.load(saved)
    assert loaded.classes == CLASSES and loaded.tokens == tokens.tokens
    assert torch.equal(loaded.vectors, tokens.vectors) and loaded.metadata["generator"] == "tiny"


def test_early_stopping_fires_and_a_stopped_token_stays_put():
    bundle = tiny_generator()
    initial = ClassTokens.initial(bundle, CLASSES[:2])
    teacher = AlwaysPredicts(0, 2)
    tokens, history = learn_class_tokens(
        bundle, teacher, CLASSES[:2], SAMPLING, CATConfig(epochs=3, accumulation=2), progress=False
    )
    cat = [h for h in history if h["class"] == "cat"]
    dog = [h for h in history if h["class"] == "dog"]
    assert len(cat) == 1 and cat[0]["stopped"] and cat[0]["share_correct"] == 1.0
    assert len(dog) == 3 and not any(h["stopped"] for h in dog)
    # "cat" stopped at once and kept its vector while Adam went on updating "dog"
    assert torch.equal(tokens.vectors[0], initial.vectors[0])


def test_cat_settings_are_checked():
    with pytest.raises(ReproError, match="accumulation"):
        CATConfig(accumulation=0)
    with pytest.raises(ReproError, match="does not exist"):
        ClassTokens.load("/nonexistent/tokens.safetensors")


def test_learned_tokens_drive_the_cat_sampler():
    bundle = tiny_generator()
    tokens = ClassTokens(CLASSES, torch.randn(3, bundle.text_width) * 5)
    sampler = DDISSampler(bundle, CLASSES, "cat", tokens=tokens, config=SamplerConfig(steps=2))
    plain = DDISSampler(bundle, CLASSES, "vanilla", config=SamplerConfig(steps=2))
    with torch.no_grad():
        with_token = sampler.conditioning([0])[0]
        without = plain.conditioning([0])[0]
    assert not torch.allclose(with_token, without)


def clip_bpe_tokenizer(folder):
    """A real ``CLIPTokenizer`` (SD's BPE tokenizer class) over a toy vocabulary: letters plus "cat"."""
    import json

    from transformers import CLIPTokenizer

    letters = "abcdefghijklmnopqrstuvwxyz"
    words = list(letters) + [c + "</w>" for c in letters] + ["ca", "cat</w>", "<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({w: i for i, w in enumerate(words)}))
    (folder / "merges.txt").write_text("#version: 0.2\nc a\nca t</w>\n")
    return CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token="<|endoftext|>", model_max_length=8
    )


def test_tokens_work_with_clip_bpe_tokenizer_and_a_1024_wide_text_encoder(tmp_path):
    bundle = tiny_generator(text_width=1024)  # SD 2.1's text width
    bundle.tokenizer = clip_bpe_tokenizer(tmp_path)
    bundle.text_encoder.resize_token_embeddings(len(bundle.tokenizer), mean_resizing=False)
    bundle.text_encoder.requires_grad_(False)
    tokens = ClassTokens.initial(bundle, ["cat"])
    ids = tokens.install(bundle)
    assert bundle.tokenizer.tokenize("a <ddis-cat> cat") == ["a</w>", "<ddis-cat>", "cat</w>"]
    splice = TokenSplice(bundle, ids, tokens.vectors * 3)
    out = bundle.encode_text(["a <ddis-cat> cat"])
    assert out.shape == (1, 8, 1024)
    out.square().sum().backward()
    assert splice.vectors[0].grad.abs().sum() > 0
    splice.remove()


def test_cached_tokens_are_learned_once_and_refused_for_other_settings(tmp_path, monkeypatch):
    from repro.ddis import cat as cat_module
    from repro.ddis.cat import cached_class_tokens

    bundle = tiny_generator()
    teacher = tiny_bn_teacher(num_classes=2)
    path = tmp_path / "tokens.safetensors"
    config = CATConfig(epochs=1, accumulation=1)
    learned = cached_class_tokens(path, bundle, teacher, CLASSES[:2], SAMPLING, config, use_dag=False)
    assert path.exists() and learned.metadata["settings"]["use_dag"] is False
    monkeypatch.setattr(cat_module, "learn_class_tokens", lambda *a, **k: pytest.fail("learned again"))
    again = cached_class_tokens(path, bundle, teacher, CLASSES[:2], SAMPLING, config, use_dag=False)
    assert torch.equal(again.vectors, learned.vectors)
    # memory-only settings do not count; anything that changes the tokens does
    cached_class_tokens(
        path, bundle, teacher, CLASSES[:2], SAMPLING, CATConfig(epochs=1, accumulation=1, micro_batch=7), use_dag=False
    )
    with pytest.raises(ReproError, match="other settings"):
        cached_class_tokens(path, bundle, teacher, CLASSES[:2], SAMPLING, config, use_dag=True)
    with pytest.raises(ReproError, match="other settings"):
        cached_class_tokens(
            path, bundle, teacher, CLASSES[:2], SAMPLING, CATConfig(epochs=2, accumulation=1), use_dag=False
        )
