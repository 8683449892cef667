"""Tiny randomly initialised text-to-image models built from configs, for CPU tests (no weights needed).

They have the architecture of Stable Diffusion (AutoencoderKL, cross-attention UNet2DConditionModel,
CLIPTextModel), only small, so every code path runs in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .bundle import GeneratorBundle
from .tokenizer import build_word_tokenizer

TINY_WORDS = (
    "a photo of a an art painting cartoon sketch airplane automobile bird cat deer dog frog horse ship truck "
    "tench church parachute"
)


def tiny_generator(
    resolution: int = 32,
    text_width: int = 32,
    max_tokens: int = 8,
    prediction_type: str = "epsilon",
    vocabulary: Sequence[str] = (TINY_WORDS,),
    seed: int = 0,
) -> GeneratorBundle:
    """A frozen fp32 bundle on CPU: ``resolution`` px images, 4-channel latents at ``resolution / 4``."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = build_word_tokenizer(vocabulary, model_max_length=max_tokens)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(8, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=resolution,
    )
    unet = UNet2DConditionModel(
        sample_size=resolution // 4,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        cross_attention_dim=text_width,
        attention_head_dim=4,
        norm_num_groups=8,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=text_width,
            intermediate_size=2 * text_width,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=max_tokens,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        prediction_type=prediction_type,
        clip_sample=False,
    )
    bundle = GeneratorBundle("tiny", vae, unet, text_encoder, tokenizer, scheduler, resolution)
    return bundle.freeze()
