"""The DDIS sampler: DDIM with classifier-free guidance, Domain Alignment Guidance and Class Alignment Tokens.

At every step t: (1) if DAG acts at t, z_t <- z_t - eta * grad L_BN; (2) classifier-free guidance on the
corrected latent, eps = eps(z_t, "") + s * (eps(z_t, prompt) - eps(z_t, "")), with the conditional and
unconditional halves in one UNet call; (3) a deterministic DDIM update. The four ablation rows of the paper are
the modes: ``vanilla`` (prompt "a {class}"), ``cat`` (prompt "a {S_c} {class}"), ``dag`` (vanilla prompt + DAG)
and ``ddis`` (both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..classifiers.teacher import mixed_precision
from ..errors import ReproError
from ..provenance import phase
from ..sampling.schedulers import build_scheduler
from .dag import DAGConfig, DomainAlignmentGuidance
from .prompts import PAPER_TEMPLATE, class_prompt
from .tokens import ClassTokens

#: mode -> (uses the class token, uses DAG)
MODES = {"vanilla": (False, False), "cat": (True, False), "dag": (False, True), "ddis": (True, True)}
#: images per generation batch (one shard) of ``repro ddis sample``; DAG's L_BN is a statistic of the batch, so
#: sets meant to be compared are sampled at the same batch size
SAMPLE_BATCH = 200


@dataclass
class SamplerConfig:
    """Sampling settings; the defaults are the paper's (30 DDIM steps) where it gives them."""

    steps: int = 30
    guidance_scale: float = 7.5
    prompt: str = PAPER_TEMPLATE
    resolution: int | None = None  # generator resolution; None: the bundle's
    teacher_resolution: int | None = None  # None: the teacher sees the generator's resolution
    dag: DAGConfig = field(default_factory=DAGConfig)


def check_mode(mode: str) -> tuple[bool, bool]:
    if mode not in MODES:
        raise ReproError(f"unknown DDIS mode {mode!r}; use one of {', '.join(MODES)}")
    return MODES[mode]


class DDISSampler:
    """Samples images of given classes from a generator bundle in one of the four modes. ``graphed``: each DAG
    step's L_BN and gradient replayed as a CUDA graph (:mod:`.dag`; the same images, faster on a GPU)."""

    def __init__(
        self,
        bundle,
        classes: Sequence[str],
        mode: str = "ddis",
        teacher: nn.Module | None = None,
        tokens: ClassTokens | None = None,
        config: SamplerConfig | None = None,
        graphed: bool = False,
    ):
        self.use_cat, self.use_dag = check_mode(mode)
        self.mode, self.bundle, self.classes = mode, bundle, list(classes)
        self.config = config or SamplerConfig()
        if self.use_dag and teacher is None:
            raise ReproError(f"mode {mode!r} uses Domain Alignment Guidance and needs a teacher classifier")
        if self.use_cat:
            if tokens is None:
                raise ReproError(f"mode {mode!r} uses class tokens; learn them first with `repro ddis token`")
            missing = [c for c in self.classes if c not in tokens.classes]
            if missing:
                raise ReproError(f"the class-token file has no token for classes {missing}; learn them first")
            tokens.install(bundle)
        self.tokens = tokens
        self.dag = (
            DomainAlignmentGuidance(bundle, teacher, self.config.dag, self.config.teacher_resolution, graphed)
            if self.use_dag
            else None
        )
        self.scheduler = build_scheduler("ddim", bundle)
        self.scheduler.set_timesteps(self.config.steps, device=bundle.device)
        self.dag_losses: list[tuple[int, float]] = []  # (step index, L_BN before the DAG step) of the last run

    # --- conditioning --------------------------------------------------------------------------------
    def prompts(self, labels: Sequence[int]) -> list[str]:
        def prompt(label: int) -> str:
            name = self.classes[label]
            token = self.tokens.token_for(name) if self.use_cat else None
            return class_prompt(name, token, self.config.prompt)

        return [prompt(int(label)) for label in labels]

    def conditioning(self, labels: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Text embeddings of the prompts (carrying the class-token gradient when grad is on) and of ""."""
        if self.use_cat:
            # the token strings are shared by every token file of these classes: another sampler on the same
            # bundle (the +CAT and DDIS ablation rows) may have written its vectors since this one was built
            self.tokens.install(self.bundle)
        cond = self.bundle.encode_text(self.prompts(labels))
        with torch.no_grad():
            uncond = self.bundle.encode_text([""]).expand_as(cond)
        return cond, uncond

    # --- the denoising loop ----------------------------------------------------------------------------
    def noise(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        size = self.bundle.latent_size(self.config.resolution)
        shape = (batch, self.bundle.latent_channels, size, size)
        return torch.randn(shape, generator=generator, device=self.bundle.device) * self.scheduler.init_noise_sigma

    def _guided(self, latents: torch.Tensor, t, cond: torch.Tensor, uncond: torch.Tensor) -> torch.Tensor:
        scale = self.config.guidance_scale
        with mixed_precision(latents.device):
            if scale == 1.0:
                return self.bundle.unet(latents.to(self.bundle.dtype), t, encoder_hidden_states=cond).sample.float()
            both = torch.cat([latents, latents]).to(self.bundle.dtype)
            out = self.bundle.unet(both, t, encoder_hidden_states=torch.cat([uncond, cond])).sample.float()
        out_uncond, out_cond = out.chunk(2)
        return out_uncond + scale * (out_cond - out_uncond)

    def _predicted_x0(self, t, latents: torch.Tensor, cond, uncond):
        """z -> x0(z) with the (guided) noise prediction at z held fixed: DAG's ``decode="x0"``."""
        with torch.no_grad():
            output = self._guided(latents, t, cond.detach(), uncond)
        abar = self.scheduler.alphas_cumprod[int(t)].to(latents.device)
        kind = self.bundle.prediction_type
        if kind == "epsilon":
            eps = output
        elif kind == "v_prediction":
            eps = abar.sqrt() * output + (1 - abar).sqrt() * latents
        else:  # "sample": the model predicts x0 directly
            eps = (latents - abar.sqrt() * output) / (1 - abar).sqrt()
        return lambda z: (z - (1 - abar).sqrt() * eps) / abar.sqrt()

    def denoise(
        self, latents: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor, grad_last_step: bool = False
    ) -> torch.Tensor:
        """Run every step from pure noise to z_0. With ``grad_last_step`` the final denoising step keeps the
        graph to ``cond`` (the class token's only path to the loss); every earlier step runs without one."""
        timesteps = self.scheduler.timesteps
        n = len(timesteps)
        latents = latents.float()
        eta = None  # DAG's step size, fixed for the batch at its first DAG step
        losses = {}  # step index -> L_BN on the device, read once at the end (each read waits for the GPU)
        for i, t in enumerate(timesteps):
            last = i == n - 1
            if self.dag is not None and self.config.dag.applies(i, n):
                to_decode = self._predicted_x0(t, latents, cond, uncond) if self.config.dag.decode == "x0" else None
                latents, losses[i], eta = self.dag.correct(latents, to_decode, eta)
                self.dag_eta = eta
            with torch.set_grad_enabled(grad_last_step and last):
                step_cond = cond if (grad_last_step and last) else cond.detach()
                output = self._guided(latents, t, step_cond, uncond)
                latents = self.scheduler.step(output, t, latents, eta=0.0).prev_sample
        values = torch.stack(list(losses.values())).tolist() if losses else []
        self.dag_losses = list(zip(losses, values))
        return latents

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Final latents -> images in [-1, 1] (clamped: these are the images that are kept)."""
        with mixed_precision(latents.device):
            return self.bundle.decode_latents(latents).float().clamp(-1, 1)

    @torch.no_grad()
    def sample(self, labels: Sequence[int], generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [-1, 1], ``[len(labels), 3, H, W]``, all in one batch."""
        cond, uncond = self.conditioning(labels)
        return self.decode(self.denoise(self.noise(len(labels), generator), cond, uncond))


@phase("sampling")
def sample_dataset(sampler: DDISSampler, per_class: int, batch_size: int, out, seed: int = 0, progress: bool = True):
    """Write ``per_class`` images of every class of ``sampler`` as a synthetic dataset under ``out``."""
    from ..sampling.datafree import write_dataset

    def make_batch(labels: torch.Tensor, batch_seed: int) -> torch.Tensor:
        generator = torch.Generator(device=sampler.bundle.device).manual_seed(batch_seed)
        return sampler.sample(labels.tolist(), generator) * 0.5 + 0.5

    config = {
        "method": f"ddis/{sampler.mode}",
        "generator": sampler.bundle.name,
        "weights": sampler.bundle.fingerprint,
        "teacher": getattr(sampler.dag.teacher, "fingerprint", None) if sampler.use_dag else None,
        "steps": sampler.config.steps,
        "guidance_scale": sampler.config.guidance_scale,
        "prompt": sampler.config.prompt,
        "teacher_resolution": sampler.config.teacher_resolution,
        "dag": vars(sampler.config.dag) if sampler.use_dag else None,
        "tokens": sampler.tokens.metadata if sampler.use_cat else None,
    }
    resolution = sampler.config.resolution or sampler.bundle.resolution
    return write_dataset(make_batch, sampler.classes, per_class, batch_size, out, resolution, config, seed, progress)
