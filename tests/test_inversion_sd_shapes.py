"""The SD-shaped benchmark generators have Stable Diffusion's exact architecture (built on the meta device)."""

from __future__ import annotations

import pytest

from repro.generators.sd_shapes import sd_shaped_generator

# Parameter counts of the hub checkpoints' modules (UNet, VAE, text encoder).
SD_PARAMETERS = {"sd14": (859_520_964, 83_653_863, 123_060_480), "sd21": (865_910_724, 83_653_863, 340_387_840)}


@pytest.mark.parametrize("kind", ["sd14", "sd21"])
def test_sd_shaped_generator_has_sd_sizes(kind):
    bundle = sd_shaped_generator(kind, device="meta", resolution=128)
    counts = tuple(sum(p.numel() for p in m.parameters()) for m in (bundle.unet, bundle.vae, bundle.text_encoder))
    assert counts == SD_PARAMETERS[kind]
    assert bundle.unet.config.cross_attention_dim == bundle.text_width == {"sd14": 768, "sd21": 1024}[kind]
    assert bundle.max_tokens == 77 and bundle.vae_scale_factor == 8 and bundle.latent_size() == 16
    assert bundle.prediction_type == {"sd14": "epsilon", "sd21": "v_prediction"}[kind]
