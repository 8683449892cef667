"""Batched generation of image variants from learned embeddings (conditional and unconditional in one call)."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ReproError
from ..generators.pixels import to_uint8
from ..inversion.fastpath import FastPath
from ..inversion.store import EmbeddingTable
from .conditioning import guided_prediction, perturbed_condition
from .config import SamplingConfig
from .plan import SamplePlan
from .schedulers import build_scheduler


def check_fit(bundle, table: EmbeddingTable, resolution: int | None = None) -> int:
    """The generation resolution, after checking that ``table`` was learned for a generator like ``bundle``."""
    width = int(bundle.unet.config.cross_attention_dim)
    if table.text_width != width:
        raise ReproError(
            f"embeddings are {table.text_width} wide but generator {bundle.name!r} takes "
            f"{width}-wide conditioning; sample with the generator they were learned with "
            f"({table.meta.get('generator')!r})"
        )
    if table.tokens > bundle.max_tokens:
        raise ReproError(
            f"embeddings have {table.tokens} tokens but generator {bundle.name!r} has a "
            f"{bundle.max_tokens}-token context; use the generator they were learned with"
        )
    if resolution is not None and resolution != table.resolution:
        raise ReproError(
            f"embeddings were learned at {table.resolution} px and only generate well there "
            f"(paper section 5.2), not at {resolution} px; drop --resolution or invert again at "
            f"{resolution} px"
        )
    bundle.latent_size(table.resolution)  # raises when the VAE cannot produce that resolution
    return table.resolution


class Sampler:
    """Generates the images of plan entries; ``tables`` maps checkpoint step -> embeddings of the same images."""

    def __init__(self, bundle, tables: dict[int, EmbeddingTable], config: SamplingConfig):
        if not tables:
            raise ReproError("no embeddings to sample from")
        self.bundle, self.config, self.tables = bundle, config, tables
        first = next(iter(tables.values()))
        self.resolution = check_fit(bundle, first, config.resolution)
        self.save_resolution = config.save_resolution or int(first.meta["source_resolution"])
        self.tokens, self.device = first.tokens, bundle.device
        self.fast = FastPath(config.precision, config.channels_last, config.compile)
        self.fast.check_model_dtype(bundle.dtype)
        self.unet_fn = self.fast.unet_fn(bundle.unet)
        build_scheduler(config.scheduler, bundle)  # fail on a bad name before any work
        #: the checkpoints, sorted, and the unconditional input u of each (row k for ``self.steps[k]``), on the
        #: device: a batch gathers its rows there instead of copying one [tokens, width] tensor per sample
        self.steps = sorted(tables)
        self.uncond = torch.stack([self._unconditional(tables[s]) for s in self.steps]).to(self.device)

    def _unconditional(self, table: EmbeddingTable) -> torch.Tensor:
        """u: the mean of the learned embeddings (the paper's choice) or the empty prompt's encoding."""
        if self.config.uncond == "mean":
            return table.embeddings.float().mean(dim=0)
        with torch.no_grad():
            return self.bundle.encode_text([""])[0, : self.tokens].float().cpu()

    def conditions(self, plan: SamplePlan, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, list]:
        """Conditioning c_hat of plan entries ``rows`` (CPU, fp32), the row of each entry's unconditional input
        in :attr:`uncond` (on the device), and their generators.

        Each sample's generator draws, in order: the perturbation noise, the initial latent, then (DDIM with
        eta > 0 only) the per-step noise.
        """
        generators = [torch.Generator().manual_seed(int(plan.seed[r])) for r in rows]
        shape = (self.tokens, next(iter(self.tables.values())).text_width)
        noise = torch.stack([torch.randn(shape, generator=g) for g in generators])
        # A sample without a partner has alpha = 0, so pairing it with itself changes nothing.
        partners = np.where(plan.partner[rows] >= 0, plan.partner[rows], plan.source[rows])
        checkpoints = plan.checkpoint[rows]
        source = self._rows(checkpoints, plan.source[rows])
        partner = self._rows(checkpoints, partners)
        cond = perturbed_condition(
            source, partner, torch.as_tensor(plan.alpha[rows]), torch.as_tensor(plan.lam[rows]), noise
        )
        uncond_rows = torch.as_tensor(np.searchsorted(self.steps, checkpoints), device=self.device)
        return cond, uncond_rows, generators

    def _rows(self, checkpoints: np.ndarray, rows: np.ndarray) -> torch.Tensor:
        """fp32 embeddings of table rows ``rows`` at their ``checkpoints``: one gather per checkpoint."""
        out = torch.empty((len(rows), *next(iter(self.tables.values())).embeddings.shape[1:]))
        for step in np.unique(checkpoints):
            picked = checkpoints == step
            out[torch.from_numpy(picked)] = self.tables[int(step)].embeddings[torch.from_numpy(rows[picked])].float()
        return out

    @torch.no_grad()
    def generate(self, plan: SamplePlan, rows: np.ndarray) -> np.ndarray:
        """uint8 ``[len(rows), S, S, 3]`` images at the save resolution."""
        cond, uncond_rows, generators = self.conditions(plan, rows)
        latent = self.bundle.latent_size(self.resolution)
        shape = (self.bundle.latent_channels, latent, latent)
        latents = torch.stack([torch.randn(shape, generator=g) for g in generators]).to(self.device)
        scheduler = build_scheduler(self.config.scheduler, self.bundle)
        # the schedule stays on the CPU: the scheduler's per-step arithmetic reads it without waiting for the GPU
        scheduler.set_timesteps(self.config.steps)
        unet_timesteps = scheduler.timesteps.to(self.device)
        latents = latents * scheduler.init_noise_sigma
        conditioning = torch.cat([cond.to(self.device), self.uncond[uncond_rows]])
        w = torch.as_tensor(plan.w[rows], device=self.device)
        step_kwargs = {"eta": self.config.eta} if self.config.scheduler == "ddim" else {}
        for t, unet_t in zip(scheduler.timesteps, unet_timesteps):
            model_input = scheduler.scale_model_input(torch.cat([latents, latents]), t)
            with self.fast.autocast(self.device):
                output = self.unet_fn(model_input, unet_t.expand(model_input.shape[0]), conditioning)
            eps_cond, eps_uncond = output.float().chunk(2)
            guided = guided_prediction(eps_cond, eps_uncond, w)
            if step_kwargs and self.config.eta > 0:
                step_kwargs["variance_noise"] = torch.stack([torch.randn(shape, generator=g) for g in generators]).to(
                    self.device
                )
            latents = scheduler.step(guided, t, latents, **step_kwargs).prev_sample
        return self.decode(latents)

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        chunks = []
        for part in latents.split(self.config.decode_batch):
            with self.fast.autocast(self.device):
                pixels = self.bundle.decode_latents(part)
            chunks.append(to_uint8(pixels, self.save_resolution))
        return np.concatenate(chunks)
