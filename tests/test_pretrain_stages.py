"""Mini-model pretraining on CPU: losses fall, resume equals an uninterrupted run, captions drop at the set
rate, the vocabulary covers every caption and class name, and the pool split holds images out."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
import torch

from repro.errors import ReproError
from repro.generators import mini_config
from repro.generators.tiny import tiny_generator
from repro.pretrain.autoencoder import AutoencoderStage, autoencoder_loss, uint8_to_pixels
from repro.pretrain.diffusion import (
    LAYOUTS,
    DiffusionStage,
    MovingAverage,
    balanced_weights,
    diffusion_loss,
    drop_captions,
)
from repro.pretrain.loop import attention_backend, run_stage
from repro.pretrain.pool import caption_table, record_split, split_pool
from repro.pretrain.settings import MEMORY_FORMATS, AutoencoderSettings, DiffusionSettings

CPU = torch.device("cpu")


@dataclass
class FakeSet:
    """The fields of ``repro.data.ImageSet`` that pretraining reads."""

    images: np.ndarray
    labels: np.ndarray
    classes: list
    ids: list
    name: str = "pool"
    captions: list | None = None
    domains: list | None = None

    def __len__(self):
        return len(self.images)

    def subset(self, indices):
        def pick(xs):
            return None if xs is None else [xs[i] for i in indices]

        return FakeSet(
            self.images[indices],
            self.labels[indices],
            self.classes,
            pick(self.ids),
            self.name,
            pick(self.captions),
            pick(self.domains),
        )


def fake_pool(n: int = 64, size: int = 64, seed: int = 0) -> FakeSet:
    """Coloured discs on grey, one colour per class; captions as the pool's (photo and cartoon)."""
    rng = np.random.default_rng(seed)
    classes = ["cat", "dog", "chain saw"]
    colours = np.array([[220, 40, 40], [40, 200, 40], [40, 60, 220]], dtype=np.uint8)
    yy, xx = np.mgrid[:size, :size]
    labels = rng.integers(0, 3, n)
    images = np.full((n, size, size, 3), 60, np.uint8)
    for i, label in enumerate(labels):
        cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
        images[i][(yy - cy) ** 2 + (xx - cx) ** 2 < (size // 5) ** 2] = colours[label]
    domains = ["photo" if i % 2 else "cartoon" for i in range(n)]
    captions = [
        ("a photo of a {}" if d == "photo" else "a cartoon of a {}").format(classes[y]) for y, d in zip(labels, domains)
    ]
    ids = [f"fake/{d}/{classes[y]}/{i:04d}.jpg" for i, (y, d) in enumerate(zip(labels, domains))]
    return FakeSet(images, labels.astype(np.int64), classes, ids, "pool", captions, domains)


def tiny_autoencoder_stage(images, **settings):
    torch.manual_seed(0)
    s = AutoencoderSettings(**{"batch_size": 8, "lr": 3e-3, "warmup_steps": 2, **settings})
    return AutoencoderStage(tiny_generator(resolution=32).vae, images, s, seed=0, device=CPU)


def tiny_diffusion_stage(folder, n=48, attention=None, memory_format="channels_last", compile=None, **settings):
    bundle = tiny_generator(resolution=32)
    torch.manual_seed(0)
    pool = fake_pool(n, size=32)
    with torch.no_grad():  # latents that carry the class: a per-class constant plus noise
        labels = torch.as_tensor(pool.labels, dtype=torch.float32).view(1, n, 1, 1, 1)
        latents = torch.randn(2, n, 4, 8, 8) * 0.3 + labels - 1
    s = DiffusionSettings(**{"batch_size": 8, "lr": 2e-3, "warmup_steps": 2, "caption_dropout": 0.1, **settings})
    return DiffusionStage(
        bundle.unet,
        bundle.text_encoder,
        bundle.tokenizer,
        bundle.scheduler,
        latents,
        pool.captions,
        s,
        seed=0,
        device=CPU,
        folder=folder,
        compile=compile,
        attention=attention,
        memory_format=memory_format,
    )


def test_autoencoder_loss_falls():
    images = fake_pool(32, size=32).images
    stage = tiny_autoencoder_stage(images)
    pixels = uint8_to_pixels(torch.as_tensor(images[:16]))
    zeros = torch.zeros(16, 4, 8, 8)

    def held_loss():
        with torch.no_grad():
            return autoencoder_loss(stage.vae, pixels, zeros, 1e-5)[0].item()

    before = held_loss()
    for step in range(25):
        stage.train_step(step, 25)
    assert held_loss() < 0.6 * before


def test_diffusion_loss_falls(tmp_path):
    stage = tiny_diffusion_stage(tmp_path)
    gen = torch.Generator().manual_seed(1)
    clean = stage.latents[0, :16]
    noise = torch.randn(clean.shape, generator=gen)
    timesteps = torch.randint(0, 1000, (16,), generator=gen)

    def held_loss():
        with torch.no_grad():
            table = stage.text_encoder(stage.prompt_ids)[0]
            return diffusion_loss(
                stage.unet, clean, noise, timesteps, table, stage.caption_index[:16], stage.alphas_cumprod
            ).item()

    before = held_loss()
    for step in range(30):
        stage.train_step(step, 30)
    assert held_loss() < 0.7 * before


def test_the_attention_backend_pin_reaches_the_unets_attention(tmp_path):
    default = [tiny_diffusion_stage(tmp_path).train_step(step, 10)["loss"].item() for step in range(3)]
    math = [tiny_diffusion_stage(tmp_path, attention="math").train_step(step, 10)["loss"].item() for step in range(3)]
    assert math == pytest.approx(default, rel=1e-4)
    with pytest.raises(RuntimeError):  # no cuDNN attention on a CPU: the pin is obeyed, not ignored
        tiny_diffusion_stage(tmp_path, attention="cudnn").train_step(0, 10)
    with pytest.raises(ReproError, match="unknown attention backend 'fast'"):
        attention_backend("fast")


def test_a_pinned_attention_backend_is_compiled_without_torch_compiles_on_disk_caches(tmp_path, monkeypatch):
    """The caches key on a graph that names attention before a backend is picked: a pinned backend must not be
    served another backend's cached kernels."""
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    monkeypatch.setattr(inductor_config, "fx_graph_cache", True)
    monkeypatch.setattr(functorch_config, "enable_autograd_cache", True)
    tiny_diffusion_stage(tmp_path, compile="default")  # torch's own choice of backend: the caches may serve it
    tiny_diffusion_stage(tmp_path, attention="math")  # eager: nothing is compiled
    assert inductor_config.fx_graph_cache and functorch_config.enable_autograd_cache
    tiny_diffusion_stage(tmp_path, attention="math", compile="default")
    assert not inductor_config.fx_graph_cache and not functorch_config.enable_autograd_cache


def test_the_memory_format_reaches_the_unets_weights_and_batches_without_changing_the_step(tmp_path):
    def convolution_weights(stage):
        return [m.weight for m in stage.unet.modules() if isinstance(m, torch.nn.Conv2d)]

    nhwc, nchw = tiny_diffusion_stage(tmp_path), tiny_diffusion_stage(tmp_path, memory_format="contiguous")
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convolution_weights(nhwc))
    assert all(w.is_contiguous() for w in convolution_weights(nchw))
    assert not any(w.is_contiguous() for w in convolution_weights(nhwc) if w.shape[-1] > 1)
    losses = [[stage.train_step(step, 10)["loss"].item() for step in range(3)] for stage in (nhwc, nchw)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
    assert tuple(LAYOUTS) == MEMORY_FORMATS  # every layout the CLI offers has its torch format
    with pytest.raises(ReproError, match="unknown memory format 'nhwc'; choose one of channels_last, contiguous"):
        tiny_diffusion_stage(tmp_path, memory_format="nhwc")


def _parameters(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_autoencoder_resume_equals_uninterrupted(tmp_path):
    images = fake_pool(24, size=32).images
    straight = tiny_autoencoder_stage(images)
    assert run_stage(straight, tmp_path / "a", steps=6, budget_minutes=None) is not None
    first = tiny_autoencoder_stage(images)
    assert run_stage(first, tmp_path / "b", steps=6, budget_minutes=None, chunk_steps=4) is None
    resumed = tiny_autoencoder_stage(images)  # a fresh process: new models, state from the checkpoint
    done = run_stage(resumed, tmp_path / "b", steps=6, budget_minutes=None)
    assert done["steps"] == 6
    assert torch.equal(_parameters(straight.vae), _parameters(resumed.vae))
    with pytest.raises(ReproError, match="started for 6 steps"):
        run_stage(tiny_autoencoder_stage(images), tmp_path / "c", steps=6, budget_minutes=None, chunk_steps=1)
        run_stage(tiny_autoencoder_stage(images), tmp_path / "c", steps=9, budget_minutes=None)


def test_diffusion_resume_equals_uninterrupted(tmp_path):
    settings = dict(snapshot_fractions=(0.5,), text_encoder_fraction=0.5)
    straight = tiny_diffusion_stage(tmp_path / "a", **settings)
    run_stage(straight, tmp_path / "a", steps=6, budget_minutes=None)
    first = tiny_diffusion_stage(tmp_path / "b", **settings)
    assert run_stage(first, tmp_path / "b", steps=6, budget_minutes=None, chunk_steps=2) is None
    resumed = tiny_diffusion_stage(tmp_path / "b", **settings)
    done = run_stage(resumed, tmp_path / "b", steps=6, budget_minutes=None)
    assert done["text_encoder_steps"] == 3 and done["snapshots"] == {"unet_050.safetensors": 3}
    for a, b in ((straight.unet, resumed.unet), (straight.text_encoder, resumed.text_encoder)):
        assert torch.equal(_parameters(a), _parameters(b))
    assert straight.ema.updates == resumed.ema.updates == 6
    assert all(torch.equal(x, y) for x, y in zip(straight.ema.shadow, resumed.ema.shadow))
    from safetensors.torch import load_file

    snap_a = load_file(str(tmp_path / "a" / "snapshots" / "unet_050.safetensors"))
    snap_b = load_file(str(tmp_path / "b" / "snapshots" / "unet_050.safetensors"))
    assert snap_a.keys() == straight.unet.state_dict().keys()
    assert all(torch.equal(snap_a[k], snap_b[k]) for k in snap_a)


def test_text_encoder_is_fixed_after_its_share(tmp_path):
    stage = tiny_diffusion_stage(tmp_path, text_encoder_fraction=0.25)
    for step in range(2):
        stage.train_step(step, 8)
    frozen = _parameters(stage.text_encoder).clone()
    unet = _parameters(stage.unet).clone()
    for step in range(2, 5):
        stage.train_step(step, 8)
    assert torch.equal(frozen, _parameters(stage.text_encoder))
    assert not torch.equal(unet, _parameters(stage.unet))


def test_settings_change_is_refused_on_resume(tmp_path):
    images = fake_pool(24, size=32).images
    run_stage(tiny_autoencoder_stage(images), tmp_path, steps=4, budget_minutes=None, chunk_steps=1)
    with pytest.raises(ReproError, match="lr"):
        run_stage(tiny_autoencoder_stage(images, lr=1e-4), tmp_path, steps=4, budget_minutes=None)


def test_damaged_checkpoint_and_record_are_named_with_their_fix(tmp_path):
    images = fake_pool(24, size=32).images
    run_stage(tiny_autoencoder_stage(images), tmp_path, steps=4, budget_minutes=None, chunk_steps=1)
    (tmp_path / "state.pt").write_bytes(b"cut short")
    with pytest.raises(ReproError, match=r"training checkpoint .*state.pt is damaged .* delete it to train"):
        run_stage(tiny_autoencoder_stage(images), tmp_path, steps=4, budget_minutes=None)
    (tmp_path / "done.json").write_text('{"steps": 4')
    with pytest.raises(ReproError, match=r"stage record .*done.json is damaged"):
        run_stage(tiny_autoencoder_stage(images), tmp_path, steps=4, budget_minutes=None)


def test_budget_sizes_the_run(tmp_path, monkeypatch):
    import repro.pretrain.loop as loop

    monkeypatch.setattr(loop, "MEASURE_STEPS", (1, 3))
    images = fake_pool(24, size=32).images
    stage = tiny_autoencoder_stage(images)
    run_stage(stage, tmp_path, steps=None, budget_minutes=1e-3, chunk_steps=4)
    saved = torch.load(tmp_path / "state.pt", weights_only=False)["progress"]
    assert saved["total_steps"] is not None and saved["total_steps"] >= 4
    assert saved["step"] == 4


def test_balanced_draws_give_each_caption_count_to_the_balance():
    counts = torch.tensor([4000, 1000, 250])
    index = torch.repeat_interleave(torch.arange(3), counts)
    for balance in (1.0, 0.5, 0.0):
        weights = balanced_weights(index, balance)
        draws = torch.multinomial(weights, 400_000, replacement=True, generator=torch.Generator().manual_seed(0))
        share = torch.bincount(index[draws], minlength=3).double() / len(draws)
        expected = counts.double() ** balance / (counts.double() ** balance).sum()
        assert torch.allclose(share, expected, atol=0.004), (balance, share, expected)


def test_moving_average_follows_the_warm_up_decay():
    param = torch.nn.Parameter(torch.zeros(3))
    ema = MovingAverage([param], max_decay=0.9, power=1.0)
    with torch.no_grad():
        param.fill_(1.0)
    ema.update([param])  # decay min(0.9, 1 - 1/1) = 0: the average jumps to the weights
    assert torch.equal(ema.shadow[0], torch.ones(3))
    with torch.no_grad():
        param.fill_(3.0)
    ema.update([param])  # decay 1 - 1/2 = 0.5
    assert torch.allclose(ema.shadow[0], torch.full((3,), 2.0))
    for _ in range(20):
        ema.update([param])
    assert ema.decay() == 0.9


def test_caption_dropout_rate():
    index = torch.zeros(200_000, dtype=torch.int64)
    dropped = drop_captions(index, 7, 0.1, torch.Generator().manual_seed(0))
    assert set(dropped.unique().tolist()) == {0, 7}
    assert abs((dropped == 7).double().mean().item() - 0.1) < 0.003
    assert torch.equal(drop_captions(index, 7, 0.0, torch.Generator().manual_seed(0)), index)


def test_caption_table_puts_the_empty_prompt_last():
    prompts, index = caption_table(["a photo of a dog", "a cartoon of a cat", "a photo of a dog"])
    assert prompts == ["a cartoon of a cat", "a photo of a dog", ""]
    assert index.tolist() == [1, 0, 1]


def test_vocabulary_covers_captions_and_class_names():
    tokenizer = mini_config.build_tokenizer()
    classes = [*mini_config.CIFAR10_CLASSES, *mini_config.IMAGENETTE_CLASSES, *mini_config.PACS_CLASSES]
    texts = [t.format(c) for t in mini_config.CAPTION_TEMPLATES.values() for c in classes]
    texts += ["a photo of an airplane", "an English springer"]
    assert mini_config.unknown_words(tokenizer, texts + classes) == []
    ids = tokenizer(texts, padding="max_length", max_length=77).input_ids
    assert all(len(row) == 77 and tokenizer.unk_token_id not in row for row in ids)
    assert mini_config.unknown_words(tokenizer, ["a photo of a zebra"]) == ["zebra"]
    # the pool's own captions and class names join the vocabulary when training starts
    extended = mini_config.build_tokenizer(["a watercolour of a tench"])
    assert mini_config.unknown_words(extended, ["a watercolour of a tench"]) == []


def test_split_holds_images_out(tmp_path):
    pool = fake_pool(40)
    train, holdout = split_pool(pool, holdout_images=6, seed=0, pool_images=30)
    assert len(train) == 24 and len(holdout) == 6
    assert not set(train.ids) & set(holdout.ids)
    again_train, again_holdout = split_pool(pool, 6, 0, 30)
    assert again_holdout.ids == holdout.ids
    record_split(tmp_path, train, holdout)
    record_split(tmp_path, again_train, again_holdout)
    other_train, other_holdout = split_pool(pool, 6, 1, 30)
    with pytest.raises(ReproError, match="another pool split"):
        record_split(tmp_path, other_train, other_holdout)


def test_pool_without_captions_is_refused():
    pool = replace(fake_pool(8, size=64), captions=None)
    with pytest.raises(ReproError, match="no captions"):
        split_pool(pool, 2, 0)
    with pytest.raises(ReproError, match="uint8"):
        split_pool(fake_pool(8, size=32), 2, 0)
