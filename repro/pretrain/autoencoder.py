"""Stage 1: train the mini model's AutoencoderKL on the pool, then cache the pool's latents for stage 2.

Loss: L1 + L2 on pixels in [-1, 1] and a small KL term on the posterior (no perceptual or adversarial loss:
no pretrained feature network exists offline). The latent scaling factor is 1 / std of the pool's latents,
as Stable Diffusion's 0.18215 was chosen, and is stored in the VAE config (``scaling_factor``).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..errors import ReproError
from ..files import problem, read_json, replaced_atomically
from .loop import StepRandom, StepSampler, atomic_save, bf16_autocast, compiled, lr_factor, read_done, run_stage
from .settings import AutoencoderSettings

FINAL_DIR = "final"
LATENTS_FILE = "latents.pt"


def uint8_to_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, H, W, 3]`` -> float ``[B, 3, H, W]`` in [-1, 1], channels-last in memory (a view permute)."""
    return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def autoencoder_loss(vae, pixels: torch.Tensor, noise: torch.Tensor, kl_weight: float):
    """Reconstruct through a posterior sample ``mean + std * noise``; L1 + L2 + kl_weight * KL (means)."""
    posterior = vae.encode(pixels).latent_dist
    latents = posterior.mean + posterior.std * noise.to(posterior.mean.dtype)
    diff = vae.decode(latents).sample.float() - pixels
    l1, l2 = diff.abs().mean(), diff.square().mean()
    mean, logvar = posterior.mean.float(), posterior.logvar.float()
    kl = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).mean()
    return l1 + l2 + kl_weight * kl, {"l1": l1.detach(), "l2": l2.detach(), "kl": kl.detach()}


class AutoencoderStage:
    """One optimisation step of the VAE per call, on a GPU-resident uint8 image array."""

    name = "autoencoder"

    def __init__(
        self,
        vae,
        images: np.ndarray,
        settings: AutoencoderSettings,
        seed: int,
        device: torch.device,
        compile: str | None = None,
    ):
        self.device, self.settings, self.seed = torch.device(device), settings, seed
        self.vae = vae.to(self.device, memory_format=torch.channels_last).train().requires_grad_(True)
        self.images = torch.as_tensor(np.ascontiguousarray(images)).to(self.device)
        self.latent_shape = (4, images.shape[1] // 4, images.shape[2] // 4)
        self.optimizer = torch.optim.AdamW(
            self.vae.parameters(), lr=settings.lr, betas=(0.9, 0.99), weight_decay=0.0, fused=self.device.type == "cuda"
        )
        self.sampler = StepSampler(len(images), settings.batch_size, seed, self.device)
        self.random = StepRandom(seed, self.device)
        self.loss_fn = compiled(autoencoder_loss, compile)
        self.autocast = bf16_autocast(self.device)

    def settings_dict(self) -> dict:
        budget_free = {k: v for k, v in asdict(self.settings).items() if k not in ("steps", "budget_minutes")}
        return {**budget_free, "seed": self.seed, "images": len(self.images)}

    def state_dict(self) -> dict:
        return {"vae": self.vae.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.vae.load_state_dict(state["vae"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])

    def train_step(self, step: int, total_steps: int | None) -> dict:
        s = self.settings
        lr = s.lr * lr_factor(step, s.warmup_steps, total_steps, s.min_lr_ratio)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        gen = self.random.at(step)
        batch = self.images[self.sampler(step)]
        flip = torch.rand(len(batch), generator=gen, device=self.device) < 0.5
        batch = torch.where(flip[:, None, None, None], batch.flip(2), batch)
        noise = torch.randn((len(batch), *self.latent_shape), generator=gen, device=self.device)
        with self.autocast:
            loss, parts = self.loss_fn(self.vae, uint8_to_pixels(batch), noise, s.kl_weight)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"loss": loss.detach(), **parts, "lr": lr}

    def after_step(self, steps_done: int, total_steps: int) -> None:
        pass

    def finish(self, folder: Path, progress) -> dict:
        """Fix the latent scaling factor from the pool, save the final VAE; the pool's latents are cached."""
        self.vae.eval()
        latents = encode_latents(self.vae, self.images, self.device)
        scaling_factor = float(1.0 / latents[0].std())
        self.vae.register_to_config(scaling_factor=scaling_factor)
        with replaced_atomically(folder / FINAL_DIR) as tmp:
            self.vae.to(memory_format=torch.contiguous_format).save_pretrained(tmp)
        atomic_save(
            {"latents": (latents * scaling_factor).cpu(), "count": len(self.images)}, folder.parent / LATENTS_FILE
        )
        return {"scaling_factor": scaling_factor, "final_loss": progress.log[-1] if progress.log else None}


@torch.no_grad()
def encode_latents(vae, images: torch.Tensor, device: torch.device, batch_size: int = 1024) -> torch.Tensor:
    """Unscaled posterior means of uint8 images and of their mirror images: ``[2, N, 4, h, w]`` float32."""
    out = []
    for mirrored in (False, True):
        parts = []
        for start in range(0, len(images), batch_size):
            batch = torch.as_tensor(images[start : start + batch_size]).to(device)
            batch = batch.flip(2) if mirrored else batch
            parts.append(vae.encode(uint8_to_pixels(batch).to(vae.dtype)).latent_dist.mean.float())
        out.append(torch.cat(parts))
    return torch.stack(out)


def load_final_vae(work: Path):
    from diffusers import AutoencoderKL

    folder = Path(work) / "autoencoder" / FINAL_DIR
    if not folder.is_dir():
        raise ReproError(f"no trained autoencoder in {folder}; run `repro pretrain vae --work {work}` first")
    return AutoencoderKL.from_pretrained(folder)


def pool_latents(work: Path, images: np.ndarray, device: torch.device) -> torch.Tensor:
    """Scaled latents ``[2, N, 4, h, w]`` of the training pool and its mirror images, cached in ``work``.

    The autoencoder stage writes the cache when it finishes; on a machine that lacks it (a fresh GPU box that
    got only the checkpoint), they are encoded again with the final VAE.
    """
    path = Path(work) / LATENTS_FILE
    if path.exists():
        try:
            cached = torch.load(path, map_location="cpu")
            if cached["count"] == len(images):
                return cached["latents"].to(device)
        except Exception as err:  # a cache cut short by a killed job is encoded again, not trusted
            print(f"the latent cache {path} cannot be read ({problem(err)}); encoding the pool again", flush=True)
    vae = load_final_vae(work).to(device).eval()
    latents = encode_latents(vae, images, device) * vae.config.scaling_factor
    atomic_save({"latents": latents.cpu(), "count": len(images)}, path)
    return latents


def adopt_autoencoder(work: Path, model: Path) -> dict:
    """Finish stage 1 in ``work`` with the autoencoder of an exported model folder (``vae/`` and the
    ``training/`` records): the UNet can then be retrained on the same latent space without retraining the
    autoencoder. The model must have held out the same pool images as ``work`` (its ``split.json``)."""
    import shutil

    from diffusers import AutoencoderKL

    from ..fingerprint import folder_fingerprint
    from .export import TRAINING_DIR
    from .loop import LOG_FILE, write_done
    from .pool import SPLIT_FILE

    work, model = Path(work), Path(model)
    folder = work / "autoencoder"
    done = read_done(folder)
    if done is not None:
        return done
    training = model / TRAINING_DIR
    needed = [model / "vae", training / "autoencoder.json", training / "autoencoder_log.csv", training / SPLIT_FILE]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise ReproError(
            f"{model} is not an exported mini model (missing {', '.join(missing)}); adopt from a "
            "folder written by `repro pretrain export`"
        )
    fix = "adopt from a folder written by `repro pretrain export`"
    if read_json(training / SPLIT_FILE, "pool split", fix) != read_json(work / SPLIT_FILE, "pool split", fix):
        raise ReproError(
            f"{model} was trained on another pool split than {work / SPLIT_FILE} (other data, seed or "
            "scale); adopt only from a model of the same split, or train the autoencoder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(folder / FINAL_DIR) as tmp:
        AutoencoderKL.from_pretrained(model / "vae", torch_dtype=torch.float32).save_pretrained(tmp)
    shutil.copy(training / "autoencoder_log.csv", folder / LOG_FILE)
    record = read_json(training / "autoencoder.json", "autoencoder record", fix)
    record["adopted"] = {"from": str(model), "fingerprint": folder_fingerprint(model, parts=("vae",))}
    write_done(folder, record)
    return record


def train_autoencoder(
    work: Path,
    train_set,
    scale,
    device: torch.device,
    deadline: float | None = None,
    steps: int | None = None,
    budget_minutes: float | None = None,
    chunk_steps: int | None = None,
) -> dict | None:
    """Stage 1 in ``work/autoencoder``, resuming; the ``done`` record once finished, else None."""
    from ..generators.mini_config import build_vae

    folder = Path(work) / "autoencoder"
    done = read_done(folder)
    if done is not None:
        return done
    s = scale.autoencoder
    torch.manual_seed(scale.seed)
    stage = AutoencoderStage(build_vae(), train_set.images, s, scale.seed, device, compile=scale.compile)
    return run_stage(
        stage,
        folder,
        steps=steps or s.steps,
        budget_minutes=budget_minutes or s.budget_minutes,
        deadline=deadline,
        checkpoint_minutes=scale.checkpoint_minutes,
        log_every=scale.log_every,
        chunk_steps=chunk_steps,
    )
