"""Stable Diffusion v1.4 / 2.1 with their exact architectures and random weights, for benchmarks.

No SD weights can be downloaded on the GPU machines, but speed depends only on the architecture: a UNet with
SD's config does the same work per call whatever its weights. The configs below are those of the hub folders
``CompVis/stable-diffusion-v1-4`` and ``stabilityai/stable-diffusion-2-1`` (UNet 859.5M / 865.9M parameters,
the shared 83.7M-parameter VAE, CLIP ViT-L/14 and OpenCLIP ViT-H text towers). The tokenizer is a word-level
stand-in with CLIP's 77-token context, since only the shapes matter here.
"""

from __future__ import annotations

import torch

from ..errors import ReproError
from .bundle import GeneratorBundle, resolve_dtype
from .tokenizer import build_word_tokenizer

_DOWN = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D")
_UP = ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")
_UNET_COMMON = dict(
    act_fn="silu",
    block_out_channels=(320, 640, 1280, 1280),
    center_input_sample=False,
    down_block_types=_DOWN,
    up_block_types=_UP,
    downsample_padding=1,
    flip_sin_to_cos=True,
    freq_shift=0,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    mid_block_scale_factor=1,
    norm_eps=1e-5,
    norm_num_groups=32,
)

UNET_CONFIGS = {
    "sd14": dict(_UNET_COMMON, attention_head_dim=8, cross_attention_dim=768, sample_size=64),
    "sd21": dict(
        _UNET_COMMON,
        attention_head_dim=(5, 10, 20, 20),
        cross_attention_dim=1024,
        sample_size=96,
        use_linear_projection=True,
        upcast_attention=True,
    ),
}

VAE_CONFIG = dict(
    act_fn="silu",
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    layers_per_block=2,
    norm_num_groups=32,
    scaling_factor=0.18215,
)

TEXT_CONFIGS = {
    # CLIP ViT-L/14 text tower (SD v1.x)
    "sd14": dict(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        hidden_act="quick_gelu",
        projection_dim=768,
    ),
    # OpenCLIP ViT-H/14 text tower, penultimate layer (SD 2.x uses 23 of its 24 layers)
    "sd21": dict(
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=23,
        num_attention_heads=16,
        hidden_act="gelu",
        projection_dim=512,
    ),
}

SCHEDULER_CONFIGS = {
    "sd14": dict(prediction_type="epsilon"),
    "sd21": dict(prediction_type="v_prediction"),
}
_SCHEDULER_COMMON = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    steps_offset=1,
)

NATIVE_RESOLUTION = {"sd14": 512, "sd21": 768}
CLIP_VOCAB_SIZE = 49408
CLIP_CONTEXT = 77
_WORDS = "a photo of an art painting cartoon sketch airplane automobile bird cat deer dog frog horse ship truck"


def sd_shaped_generator(
    kind: str = "sd14",
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "fp32",
    resolution: int | None = None,
    seed: int = 0,
) -> GeneratorBundle:
    """A frozen bundle with SD v1.4's (``sd14``) or SD 2.1's (``sd21``) exact architecture and random weights.

    The modules are built directly on ``device`` (``"meta"`` builds no storage at all, for counting
    parameters). ``resolution`` is the target image size (the papers use 128 and 256 px).
    """
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    if kind not in UNET_CONFIGS:
        raise ReproError(f"unknown Stable Diffusion shape {kind!r}; use one of {sorted(UNET_CONFIGS)}")
    tokenizer = build_word_tokenizer([_WORDS], model_max_length=CLIP_CONTEXT)
    torch.manual_seed(seed)
    with torch.device(device):
        unet = UNet2DConditionModel(**UNET_CONFIGS[kind])
        vae = AutoencoderKL(**VAE_CONFIG, sample_size=NATIVE_RESOLUTION[kind])
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=CLIP_VOCAB_SIZE,
                max_position_embeddings=CLIP_CONTEXT,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
                **TEXT_CONFIGS[kind],
            )
        )
    scheduler = DDPMScheduler(**_SCHEDULER_COMMON, **SCHEDULER_CONFIGS[kind])
    bundle = GeneratorBundle(
        f"{kind}-shaped", vae, unet, text_encoder, tokenizer, scheduler, resolution or NATIVE_RESOLUTION[kind]
    )
    return bundle.to(dtype=resolve_dtype(dtype)).freeze()
