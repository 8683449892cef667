"""The optimisation of one group of embeddings: Eq. 3.1 of the paper, many images per UNet call.

A group of images is trained together for all its steps, so each embedding receives exactly ``steps``
updates. The loss is the SUM over images of each image's mean squared error: every embedding then gets the
gradient it would get alone, and AdamW, being elementwise, keeps per-row moments as if each image had its own
optimizer. (The authors' code instead feeds 50 of a 100-row table per step to one AdamW, so rows outside the
batch still move by momentum and weight decay; that coupling is deliberately not reproduced.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import ReproError
from .config import InversionConfig
from .fastpath import FastPath, UnetFn


def group_generator(seed: int, first_index: int, device: torch.device) -> torch.Generator:
    """The random stream of the group starting at image ``first_index`` (independent of sharding)."""
    state = np.random.SeedSequence([seed, first_index]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def initial_embeddings(
    bundle, config: InversionConfig, prompts: Sequence[str], generator: torch.Generator
) -> torch.Tensor:
    """fp32 ``[B, tokens, width]``: uniform noise (the authors' table init) or a text encoding per image."""
    shape = (len(prompts), config.tokens, bundle.text_width)
    if config.init == "random":
        rand = torch.rand(shape, generator=generator, device=generator.device)
        return ((rand * 2 - 1) * config.init_scale).to(bundle.device)
    with torch.no_grad():
        return bundle.encode_text(list(prompts))[:, : config.tokens].float().clone()


class GroupTrainer:
    """Learns the embeddings of one group of images against a frozen generator.

    ``pixels`` are the group's images in [-1, 1] at the target resolution, on the model's device.
    ``unet_fn`` comes from ``FastPath.unet_fn`` (built once per run, so a compiled UNet is reused).
    """

    def __init__(
        self,
        bundle,
        config: InversionConfig,
        pixels: torch.Tensor,
        prompts: Sequence[str],
        generator: torch.Generator,
        fast: FastPath,
        unet_fn: UnetFn,
    ):
        self.bundle, self.config, self.fast, self.unet_fn = bundle, config, fast, unet_fn
        self.generator = generator
        self.device = bundle.device
        fast.check_model_dtype(bundle.dtype)
        alphas = bundle.scheduler.alphas_cumprod.to(self.device, torch.float32)
        self.sqrt_alpha, self.sqrt_sigma = alphas.sqrt(), (1 - alphas).sqrt()
        self.num_timesteps = int(bundle.scheduler.config.num_train_timesteps)
        self.prediction_type = bundle.prediction_type
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise ReproError(
                f"generator {bundle.name!r} predicts {self.prediction_type!r}; inversion supports "
                "epsilon and v_prediction models"
            )
        self.pixels = pixels
        if not config.reencode_every_step:
            # The VAE posterior is computed once per image and cached: same distribution, no encoder per step.
            self.posterior_mean, self.posterior_std = self._posterior(pixels)
        self.embeddings = torch.nn.Parameter(initial_embeddings(bundle, config, prompts, generator))
        # one fused kernel on the GPU for the whole group's update (the same arithmetic as the default path)
        self.optimizer = torch.optim.AdamW(
            [self.embeddings],
            lr=config.lr,
            betas=config.betas,
            eps=config.eps,
            weight_decay=config.weight_decay,
            fused=self.device.type == "cuda",
        )
        self.step_count = 0

    def _posterior(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad(), self.fast.autocast(self.device):
            dist = self.bundle.vae.encode(pixels.to(self.bundle.vae.dtype)).latent_dist
        scale = self.bundle.scaling_factor
        return dist.mean.float() * scale, dist.std.float() * scale

    def clean_latents(self) -> torch.Tensor:
        """z0 for this step: the posterior mean, or a draw from the (cached or re-encoded) posterior."""
        if self.config.reencode_every_step:
            mean, std = self._posterior(self.pixels)
        else:
            mean, std = self.posterior_mean, self.posterior_std
        if self.config.latents == "mean":
            return mean
        return mean + std * torch.randn(mean.shape, generator=self.generator, device=self.device)

    def per_image_loss(
        self,
        latents: torch.Tensor,
        noise: torch.Tensor,
        timesteps: torch.Tensor,
        embeddings: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """LDM loss of each image ``[B]`` (fp32) for given clean latents, noise and timesteps."""
        embeddings = self.embeddings if embeddings is None else embeddings
        a = self.sqrt_alpha[timesteps].view(-1, 1, 1, 1)
        s = self.sqrt_sigma[timesteps].view(-1, 1, 1, 1)
        noisy = a * latents + s * noise
        target = noise if self.prediction_type == "epsilon" else a * noise - s * latents
        with self.fast.autocast(self.device):
            prediction = self.unet_fn(noisy, timesteps, embeddings)
        return (prediction.float() - target).pow(2).mean(dim=(1, 2, 3))

    def step(self) -> torch.Tensor:
        """One AdamW update of every embedding of the group; returns the per-image losses (detached)."""
        latents = self.clean_latents()
        noise = torch.randn(latents.shape, generator=self.generator, device=self.device)
        timesteps = torch.randint(
            0, self.num_timesteps, (latents.shape[0],), generator=self.generator, device=self.device
        )
        losses = self.per_image_loss(latents, noise, timesteps)
        losses.sum().backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step_count += 1
        return losses.detach()

    # --- resumable state ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "step": self.step_count,
            "embeddings": self.embeddings.detach().cpu(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.embeddings.copy_(state["embeddings"].to(self.device))
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["rng"])
        self.step_count = int(state["step"])
