"""Architecture and vocabulary of the embedded mini text-to-image model, the suite's stand-in for Stable Diffusion.

Same parts as SD (AutoencoderKL, cross-attention UNet2DConditionModel, CLIPTextModel with a 77-token context,
DDPM scheduler with SD's betas), sized so that the fp16 weights of the final model plus two early UNet
checkpoints fit in 40 MB: VAE 1.3M parameters (64 px -> 16x16x4 latents, the latent grid of SD at 128 px),
UNet 5.0M, text encoder 1.1M. The functions return randomly initialised models; ``repro pretrain`` trains them.
"""

from __future__ import annotations

from collections.abc import Iterable

from .tokenizer import UNK, build_word_tokenizer, words_of

RESOLUTION = 64
LATENT_SIZE = 16
CONTEXT_LENGTH = 77  # CLIP's context, so prompts and learned embeddings have SD's shape [77, width]
TEXT_WIDTH = 256

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGENETTE_CLASSES = (
    "tench",
    "English springer",
    "cassette player",
    "chain saw",
    "church",
    "French horn",
    "garbage truck",
    "gas pump",
    "golf ball",
    "parachute",
)
PACS_CLASSES = ("dog", "elephant", "giraffe", "guitar", "horse", "house", "person")
#: Caption of a pool image by its domain (DESIGN.md, the mini world); PACS sketch never enters the pool, but
#: prompt-based baselines ask for sketches, so its template is in the vocabulary too.
CAPTION_TEMPLATES = {
    "photo": "a photo of a {}",
    "art_painting": "an art painting of a {}",
    "cartoon": "a cartoon of a {}",
    "sketch": "a sketch of a {}",
}
#: Words prompts need beyond the captions ("an" before a vowel, as DDIS writes "an airplane").
EXTRA_WORDS = ("a", "an")

VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 3,  # three levels: downsampling by 4
    up_block_types=("UpDecoderBlock2D",) * 3,
    block_out_channels=(32, 64, 64),
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=16,
    sample_size=RESOLUTION,
    scaling_factor=1.0,  # replaced by 1 / std of the pool's latents after training
)
UNET_CONFIG = dict(
    sample_size=LATENT_SIZE,
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(64, 96, 128),
    layers_per_block=1,
    cross_attention_dim=TEXT_WIDTH,
    # diffusers' name for the number of heads: one per level, 64, 96 and 128 wide. Four heads 16-32 wide, the same
    # FLOPs, trained 13 % slower on an H100 (bench/pretrain_speed.py --heads 1,4: results/bench/pretrain_speed_31b55f7)
    attention_head_dim=1,
    norm_num_groups=32,
)
TEXT_CONFIG = dict(
    hidden_size=TEXT_WIDTH,
    intermediate_size=512,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=CONTEXT_LENGTH,
)
SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_schedule="scaled_linear",
    beta_start=0.00085,
    beta_end=0.012,
    prediction_type="epsilon",
    clip_sample=False,
    steps_offset=1,
)


def vocabulary_texts(extra_texts: Iterable[str] = ()) -> list[str]:
    """Every caption template filled with every class name of the mini datasets, plus ``extra_texts``."""
    classes = sorted({*CIFAR10_CLASSES, *IMAGENETTE_CLASSES, *PACS_CLASSES})
    texts = [template.format(c) for template in CAPTION_TEMPLATES.values() for c in classes]
    return texts + list(EXTRA_WORDS) + list(extra_texts)


def build_tokenizer(extra_texts: Iterable[str] = ()):
    """The word-level tokenizer over :func:`vocabulary_texts` (pass the pool's captions and class names)."""
    return build_word_tokenizer(vocabulary_texts(extra_texts), model_max_length=CONTEXT_LENGTH)


def unknown_words(tokenizer, texts: Iterable[str]) -> list[str]:
    """Words of ``texts`` that ``tokenizer`` maps to its unknown token (empty: it covers them all)."""
    vocab = tokenizer.get_vocab()
    return [w for w in words_of(texts) if w not in vocab or w == UNK]


def build_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(**VAE_CONFIG)


def build_unet(**overrides):
    """The UNet of :data:`UNET_CONFIG`, with ``overrides`` of its settings (a speed bench's variants)."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**{**UNET_CONFIG, **overrides})


def build_text_encoder(tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **TEXT_CONFIG,
    )
    return CLIPTextModel(config)


def build_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULER_CONFIG)
