"""Stage 2: train the mini model's UNet and text encoder on the pool's cached latents and captions.

Epsilon prediction on SD's noise schedule, with about 10 % of captions replaced by the empty prompt so that
classifier-free guidance works. The text encoder runs once per step on the distinct captions (a few dozen)
instead of once per image; the compiled loss gathers each image's row. It trains during the first
``text_encoder_fraction`` of the steps, with its learning rate falling to zero, and is fixed afterwards: the
shipped early UNet checkpoints (10 % and 30 %) then fit the shipped text encoder. The shipped UNet is the
exponential moving average of its weights.

Speed (the step is a few dozen milliseconds of GPU work at batch 2048): latents, captions and the sampling
weights live on the GPU, every random draw comes from a per-step seeded GPU generator, the loss is compiled,
AdamW is fused and the moving average is one foreach update, so no step waits for the host.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import ReproError
from ..files import replaced_atomically
from .loop import (
    StepRandom,
    attention_backend,
    bf16_autocast,
    compile_without_caches,
    compiled,
    lr_factor,
    read_done,
    run_stage,
)
from .pool import caption_table
from .settings import DiffusionSettings

FINAL_DIR = "final"
SNAPSHOT_DIR = "snapshots"
TOKENIZER_DIR = "tokenizer"
EMA_UNET_FILE = "unet_ema.safetensors"
#: the torch layout of each of settings.MEMORY_FORMATS
LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def diffusion_loss(
    unet,
    clean: torch.Tensor,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    context_table: torch.Tensor,
    captions: torch.Tensor,
    alphas_cumprod: torch.Tensor,
) -> torch.Tensor:
    """MSE between the added noise and the UNet's prediction of it (DDPM forward process, as add_noise); each
    image is conditioned on row ``captions[i]`` of the encoded caption table."""
    alpha = alphas_cumprod[timesteps].view(-1, 1, 1, 1)
    noisy = alpha.sqrt() * clean + (1.0 - alpha).sqrt() * noise
    prediction = unet(noisy, timesteps, encoder_hidden_states=context_table[captions], return_dict=False)[0]
    return F.mse_loss(prediction.float(), noise)


def snapshot_name(fraction: float) -> str:
    return f"unet_{round(fraction * 100):03d}.safetensors"


def drop_captions(index: torch.Tensor, empty_index: int, rate: float, generator: torch.Generator) -> torch.Tensor:
    """Replace each caption index by the empty prompt's with probability ``rate``."""
    drop = torch.rand(index.shape, generator=generator, device=index.device) < rate
    return torch.where(drop, torch.full_like(index, empty_index), index)


def balanced_weights(caption_index: torch.Tensor, balance: float) -> torch.Tensor:
    """Per-image sampling weights ``count(caption) ** (balance - 1)``: a caption's share of the draws is then
    proportional to ``count ** balance``."""
    counts = torch.bincount(caption_index).double()
    return counts[caption_index].pow(balance - 1.0).float()


class MovingAverage:
    """Exponential moving average of parameters in fp32, with diffusers' warm-up: the decay at update ``k`` is
    ``min(max_decay, 1 - (1 + k) ** -power)``, so early weights are forgotten quickly."""

    def __init__(self, parameters, max_decay: float, power: float):
        self.max_decay, self.power = max_decay, power
        self.shadow = [p.detach().float().clone() for p in parameters]
        self.updates = 0

    def decay(self) -> float:
        return min(self.max_decay, 1.0 - (1.0 + self.updates) ** -self.power)

    @torch.no_grad()
    def update(self, parameters) -> None:
        torch._foreach_lerp_(self.shadow, [p.detach().float() for p in parameters], 1.0 - self.decay())
        self.updates += 1

    def state_dict(self) -> dict:
        return {"shadow": self.shadow, "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        device = self.shadow[0].device
        # a compact (half-precision) checkpoint stores the average in fp16: keep averaging in fp32
        self.shadow = [t.to(device, torch.float32) for t in state["shadow"]]
        self.updates = int(state["updates"])


class DiffusionStage:
    """One optimisation step of UNet (+ text encoder) per call, on GPU-resident latents and caption indices."""

    name = "diffusion"

    def __init__(
        self,
        unet,
        text_encoder,
        tokenizer,
        scheduler,
        latents: torch.Tensor,
        captions: list[str],
        settings: DiffusionSettings,
        seed: int,
        device: torch.device,
        folder: Path,
        compile: str | None = None,
        attention: str | None = None,
        memory_format: str = "channels_last",
    ):
        if scheduler.config.prediction_type != "epsilon":
            raise ReproError(f"the mini model predicts epsilon; scheduler says {scheduler.config.prediction_type}")
        if latents.shape[1] != len(captions):
            raise ReproError(
                f"{latents.shape[1]} cached latents but {len(captions)} captions; delete the "
                "latent cache in the work folder so it is encoded again"
            )
        if len(captions) < settings.batch_size:
            raise ReproError(
                f"{len(captions)} training images are fewer than the batch size "
                f"{settings.batch_size}; use a larger pool or a smaller batch"
            )
        self.device, self.settings, self.seed, self.folder = torch.device(device), settings, seed, Path(folder)
        if memory_format not in LAYOUTS:
            raise ReproError(f"unknown memory format {memory_format!r}; choose one of {', '.join(LAYOUTS)}")
        self.memory_format = LAYOUTS[memory_format]
        self.unet = unet.to(self.device, memory_format=self.memory_format).train().requires_grad_(True)
        self.text_encoder = text_encoder.to(self.device).train().requires_grad_(True)
        self.tokenizer = tokenizer
        self.latents = latents.to(self.device, torch.float32)
        prompts, index = caption_table(captions)
        self.prompts, self.empty_index = prompts, len(prompts) - 1
        self.caption_index = torch.as_tensor(index).to(self.device)
        self.weights = balanced_weights(self.caption_index, settings.caption_balance)
        self.prompt_ids = tokenizer(
            prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
        ).input_ids.to(self.device)
        self.alphas_cumprod = scheduler.alphas_cumprod.to(self.device, torch.float32)
        self.num_timesteps = int(scheduler.config.num_train_timesteps)
        self.trained_parameters = [*self.unet.parameters(), *self.text_encoder.parameters()]
        self.optimizer = torch.optim.AdamW(
            [{"params": list(self.unet.parameters())}, {"params": list(self.text_encoder.parameters())}],
            lr=settings.lr,
            betas=settings.betas,
            weight_decay=settings.weight_decay,
            fused=self.device.type == "cuda",
        )
        self.ema = MovingAverage(self.unet.parameters(), settings.ema_max_decay, settings.ema_power)
        self.random = StepRandom(seed, self.device)
        if attention is not None and compile is not None:
            compile_without_caches()
        self.loss_fn = compiled(diffusion_loss, compile)
        self.autocast = bf16_autocast(self.device)
        self.attention = attention
        self._fixed_context = None  # text-encoder output once it no longer trains

    def settings_dict(self) -> dict:
        budget_free = {k: v for k, v in asdict(self.settings).items() if k not in ("steps", "budget_minutes")}
        return {**budget_free, "seed": self.seed, "images": len(self.caption_index), "prompts": self.prompts}

    def text_encoder_steps(self, total_steps: int | None) -> int | None:
        return None if total_steps is None else round(self.settings.text_encoder_fraction * total_steps)

    def state_dict(self) -> dict:
        return {
            "unet": self.unet.state_dict(),
            "text_encoder": self.text_encoder.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.unet.load_state_dict(state["unet"])
        self.text_encoder.load_state_dict(state["text_encoder"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        self.ema.load_state_dict(state["ema"])
        self._fixed_context = None

    def _context_table(self, train_text: bool) -> torch.Tensor:
        if train_text:
            return self.text_encoder(self.prompt_ids)[0]
        if self._fixed_context is None:
            with torch.no_grad():
                self._fixed_context = self.text_encoder(self.prompt_ids)[0].detach()
        return self._fixed_context

    def learning_rates(self, step: int, total_steps: int | None) -> tuple[float, float]:
        """(UNet lr, text-encoder lr): warm-up and cosine for the UNet; the same warm-up for the text encoder,
        then a linear fall to zero at the end of its share."""
        s = self.settings
        lr = s.lr * lr_factor(step, s.warmup_steps, total_steps, s.min_lr_ratio)
        text_steps = self.text_encoder_steps(total_steps)
        if text_steps is not None and step >= text_steps:
            return lr, 0.0
        fall = 1.0 if text_steps is None else 1.0 - step / text_steps
        return lr, s.lr * min((step + 1) / s.warmup_steps, fall)

    def train_step(self, step: int, total_steps: int | None) -> dict:
        s = self.settings
        lr, text_lr = self.learning_rates(step, total_steps)
        self.optimizer.param_groups[0]["lr"], self.optimizer.param_groups[1]["lr"] = lr, text_lr
        gen = self.random.at(step)
        index = torch.multinomial(self.weights, s.batch_size, replacement=True, generator=gen)
        mirrored = torch.randint(0, 2, (s.batch_size,), generator=gen, device=self.device)
        clean = self.latents[mirrored, index].contiguous(memory_format=self.memory_format)
        captions = drop_captions(self.caption_index[index], self.empty_index, s.caption_dropout, gen)
        timesteps = torch.randint(0, self.num_timesteps, (s.batch_size,), generator=gen, device=self.device)
        noise = torch.randn(clean.shape, generator=gen, device=self.device)
        with self.autocast, attention_backend(self.attention):
            loss = self.loss_fn(
                self.unet, clean, noise, timesteps, self._context_table(text_lr > 0), captions, self.alphas_cumprod
            )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trained_parameters, s.grad_clip, foreach=True)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update(self.unet.parameters())
        return {"loss": loss.detach(), "lr": lr, "text_lr": text_lr}

    def ema_state(self) -> dict[str, torch.Tensor]:
        """The averaged UNet as a full state dict (parameters averaged, buffers as they are)."""
        state = dict(self.unet.state_dict())
        for (name, _), shadow in zip(self.unet.named_parameters(), self.ema.shadow):
            state[name] = shadow
        return {k: v.detach().contiguous() for k, v in state.items()}

    def after_step(self, steps_done: int, total_steps: int) -> None:
        from safetensors.torch import save_file

        for fraction in self.settings.snapshot_fractions:
            at = max(1, round(fraction * total_steps))
            if steps_done == at:
                folder = self.folder / SNAPSHOT_DIR
                folder.mkdir(parents=True, exist_ok=True)
                state = {k: v.to(torch.float16).cpu() for k, v in self.ema_state().items()}
                with replaced_atomically(folder / snapshot_name(fraction)) as tmp:
                    save_file(
                        state,
                        str(tmp),
                        metadata={"step": str(at), "total_steps": str(total_steps), "fraction": str(fraction)},
                    )

    def finish(self, folder: Path, progress) -> dict:
        from safetensors.torch import save_file

        final = folder / FINAL_DIR
        final.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(final / EMA_UNET_FILE) as tmp:
            save_file({k: v.float().cpu() for k, v in self.ema_state().items()}, str(tmp))
        with replaced_atomically(final / "text_encoder") as tmp:
            self.text_encoder.save_pretrained(tmp)
        return {
            "text_encoder_steps": self.text_encoder_steps(progress.total_steps),
            "snapshots": {
                snapshot_name(f): max(1, round(f * progress.total_steps)) for f in self.settings.snapshot_fractions
            },
            "final_loss": progress.log[-1] if progress.log else None,
        }


def load_or_build_tokenizer(folder: Path, train_set):
    """The tokenizer saved with the run, else a new one over the mini vocabulary and the pool's texts."""
    from transformers import AutoTokenizer

    from ..generators.mini_config import build_tokenizer, unknown_words

    path = Path(folder) / TOKENIZER_DIR
    if path.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(path)
    else:
        tokenizer = build_tokenizer([*train_set.captions, *train_set.classes])
        path.parent.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(path) as tmp:  # a half-saved tokenizer would load as a whole one
            tokenizer.save_pretrained(tmp)
    missing = unknown_words(tokenizer, train_set.captions)
    if missing:
        raise ReproError(f"the tokenizer in {path} lacks the caption words {missing}; start a new --work folder")
    return tokenizer


def train_diffusion(
    work: Path,
    train_set,
    scale,
    device: torch.device,
    deadline: float | None = None,
    steps: int | None = None,
    budget_minutes: float | None = None,
    chunk_steps: int | None = None,
) -> dict | None:
    """Stage 2 in ``work/diffusion`` on the latents of stage 1, resuming; ``done`` record once finished."""
    from ..generators.mini_config import build_scheduler, build_text_encoder, build_unet
    from .autoencoder import pool_latents

    folder = Path(work) / "diffusion"
    done = read_done(folder)
    if done is not None:
        return done
    tokenizer = load_or_build_tokenizer(folder, train_set)
    latents = pool_latents(work, train_set.images, device)
    s = scale.diffusion
    torch.manual_seed(scale.seed)
    stage = DiffusionStage(
        build_unet(),
        build_text_encoder(tokenizer),
        tokenizer,
        build_scheduler(),
        latents,
        list(train_set.captions),
        s,
        scale.seed,
        device,
        folder,
        compile=scale.compile,
        attention=scale.attention,
        memory_format=scale.memory_format,
    )
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
