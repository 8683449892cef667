"""A training loop that runs in chunks: each call trains until its deadline, checkpoints, and the next resumes.

Everything random in a step is drawn from a generator seeded by (seed, step), and batches come from a
permutation seeded by (seed, epoch), so a resumed run takes exactly the steps of an uninterrupted one and the
checkpoint needs no RNG state. A stage (the autoencoder, the diffusion model) supplies the step; this module
supplies the bookkeeping: learning-rate schedule, step budget, checkpoints, loss log and the ``done`` marker.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from ..errors import ReproError
from ..files import read_damageable, read_json, replaced_atomically, write_json_atomic
from ..provenance import device_name

STATE_FILE = "state.pt"
LOG_FILE = "log.csv"
DONE_FILE = "done.json"
#: steps (counted from a chunk's first) between which the step rate is timed when a budget sizes the run;
#: the first steps are left out because they include compilation
MEASURE_STEPS = (10, 40)


class Stage(Protocol):
    name: str
    device: torch.device

    def settings_dict(self) -> dict: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...
    def train_step(self, step: int, total_steps: int | None) -> dict[str, Any]: ...
    def after_step(self, steps_done: int, total_steps: int) -> None: ...
    def finish(self, folder: Path, progress: Progress) -> dict: ...


@dataclass
class Progress:
    step: int = 0
    total_steps: int | None = None
    train_seconds: float = 0.0
    log: list[dict] = field(default_factory=list)


class StepSampler:
    """Indices of the batch at any step: each epoch is a permutation seeded by (seed, epoch); drops the tail."""

    def __init__(self, n: int, batch_size: int, seed: int, device: torch.device):
        if n < batch_size:
            raise ReproError(
                f"{n} training images are fewer than the batch size {batch_size}; use a larger pool or a smaller batch"
            )
        self.n, self.batch_size, self.seed, self.device = n, batch_size, seed, device
        self.per_epoch = n // batch_size
        self._epoch, self._perm = None, None

    def __call__(self, step: int) -> torch.Tensor:
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._epoch = torch.randperm(self.n, generator=gen).to(self.device), epoch
        return self._perm[k * self.batch_size : (k + 1) * self.batch_size]


class StepRandom:
    """One generator on the training device, re-seeded from (seed, step) at every step."""

    def __init__(self, seed: int, device: torch.device):
        self.seed, self.generator = seed, torch.Generator(device)

    def at(self, step: int) -> torch.Generator:
        return self.generator.manual_seed((self.seed + 7_919) * 1_000_003 + step)


def lr_factor(step: int, warmup: int, total: int | None, min_ratio: float) -> float:
    """Linear warm-up, then cosine decay to ``min_ratio`` at ``total`` (flat while the total is unknown)."""
    if step < warmup:
        return (step + 1) / warmup
    if total is None:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def compiled(fn, mode: str | None):
    """``torch.compile(fn, mode=mode)``, or ``fn`` itself when ``mode`` is None (eager: CPU tests, smoke runs).

    A compile failure raises rather than falling back to eager code: a silent fallback would run a long GPU
    job at a fraction of its speed with nothing in the log to say so."""
    if mode is None:
        return fn
    return torch.compile(fn, mode=mode, dynamic=False)


def attention_backend(name: str | None):
    """A context that pins the UNet's attention to one SDPA backend. With four heads 16-32 wide on 16-256 tokens
    torch's default (cuDNN on H100) was a fifth of the training step's GPU time, so the backends are worth timing
    against each other (bench/pretrain_speed.py --attention; on an H100 the default was the fastest, flash 8 % and
    memory-efficient 13 % slower)."""
    if name is None:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backends = {
        "flash": SDPBackend.FLASH_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "math": SDPBackend.MATH,
    }
    if name not in backends:
        raise ReproError(f"unknown attention backend {name!r}; choose one of {', '.join(backends)}")
    return sdpa_kernel(backends[name])


def compile_without_caches() -> None:
    """Turn torch.compile's on-disk caches off for this process, so a step compiled with a pinned attention backend
    is compiled with it. The caches key on the traced graph, which names scaled_dot_product_attention before a
    backend is picked: with them on, an H100 served a flash-attention step the default backend's cached kernels
    (its warm-up of 3.7 s compiled nothing; results/bench/pretrain_speed_c02b6f7). Each compile then runs in full."""
    import torch._functorch.config
    import torch._inductor.config

    torch._inductor.config.fx_graph_cache = False
    torch._functorch.config.enable_autograd_cache = False


def bf16_autocast(device: torch.device):
    """bf16 autocast on GPUs; CPUs (tests, smoke runs) stay in fp32, where bf16 is slower, not faster."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def atomic_save(obj: Any, path: Path) -> None:
    with replaced_atomically(path) as tmp:
        torch.save(obj, tmp)


def write_log(log: list[dict], path: Path) -> None:
    if not log:
        return
    with replaced_atomically(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(log[0]))
        writer.writeheader()
        writer.writerows(log)


def read_done(folder: Path) -> dict | None:
    path = Path(folder) / DONE_FILE
    if not path.exists():
        return None
    return read_json(path, "stage record", "delete it and run the stage again, which finishes it from its checkpoint")


def write_done(folder: Path, record: dict) -> None:
    """The stage's ``done`` record, written atomically: a half-written one would read as finished."""
    write_json_atomic(record, Path(folder) / DONE_FILE)


def _resume(stage: Stage, folder: Path) -> Progress:
    path = folder / STATE_FILE
    if not path.exists():
        return Progress()
    blob = read_damageable(
        path,
        lambda p: torch.load(p, map_location="cpu", weights_only=False),
        "training checkpoint",
        f"delete it to train the {stage.name} stage from its start",
    )
    if blob["settings"] != stage.settings_dict():
        changed = sorted(
            k
            for k in {**blob["settings"], **stage.settings_dict()}
            if blob["settings"].get(k) != stage.settings_dict().get(k)
        )
        raise ReproError(
            f"{path} was trained with other {stage.name} settings ({', '.join(changed)}); resume "
            "with the same settings or start a new --work folder"
        )
    stage.load_state_dict(blob["stage"])
    return Progress(**blob["progress"])


def _checkpoint(stage: Stage, folder: Path, progress: Progress) -> None:
    atomic_save(
        {"settings": stage.settings_dict(), "progress": asdict(progress), "stage": stage.state_dict()},
        folder / STATE_FILE,
    )
    write_log(progress.log, folder / LOG_FILE)


def run_stage(
    stage: Stage,
    folder: str | os.PathLike,
    steps: int | None,
    budget_minutes: float | None,
    deadline: float | None = None,
    checkpoint_minutes: float = 3.0,
    log_every: int = 50,
    chunk_steps: int | None = None,
) -> dict | None:
    """Train ``stage`` from its checkpoint in ``folder`` until its last step or ``deadline`` (time.monotonic()).

    ``steps`` fixes the total; without it, the total is sized from the measured step rate to fill
    ``budget_minutes`` of training time. Returns the ``done`` record once the stage has finished (also when
    it had finished before), else None: call again to go on. ``chunk_steps`` ends a call after that many
    steps (chunks by count, where ``deadline`` chunks by time).
    """
    folder = Path(folder)
    done = read_done(folder)
    if done is not None:
        return done
    folder.mkdir(parents=True, exist_ok=True)
    progress = _resume(stage, folder)
    if steps is not None:
        if progress.total_steps not in (None, steps):
            raise ReproError(
                f"{folder} was started for {progress.total_steps} steps, not {steps}; pass "
                f"--steps {progress.total_steps} or start a new --work folder"
            )
        progress.total_steps = steps
    elif progress.total_steps is None and budget_minutes is None:
        raise ReproError(f"{stage.name}: give a number of steps or a time budget")
    first = progress.step
    measure_from = None
    sums: dict[str, Any] = {}
    count = 0
    started = mark = last_checkpoint = time.monotonic()
    bar = tqdm(total=progress.total_steps, initial=first, desc=stage.name, mininterval=10, dynamic_ncols=True)
    while progress.total_steps is None or progress.step < progress.total_steps:
        now = time.monotonic()
        step_seconds = (now - started) / max(1, progress.step - first)
        if deadline is not None and now + max(30.0, 3 * step_seconds) > deadline:
            break
        if chunk_steps is not None and progress.step - first >= chunk_steps:
            break
        metrics = stage.train_step(progress.step, progress.total_steps)
        progress.step += 1
        count += 1
        for key, value in metrics.items():
            sums[key] = sums.get(key, 0.0) + value
        if progress.total_steps is None and progress.step == first + MEASURE_STEPS[0]:
            synchronize(stage.device)
            measure_from = time.monotonic()
        elif progress.total_steps is None and measure_from is not None and progress.step == first + MEASURE_STEPS[1]:
            synchronize(stage.device)
            now = time.monotonic()
            rate = (MEASURE_STEPS[1] - MEASURE_STEPS[0]) / (now - measure_from)
            left = budget_minutes * 60 - progress.train_seconds - (now - mark)
            progress.total_steps = progress.step + max(1, int(rate * left))
            bar.total = progress.total_steps
            print(
                f"{stage.name}: {rate:.2f} steps/s -> {progress.total_steps} steps in {budget_minutes} min", flush=True
            )
        if progress.total_steps is not None:
            stage.after_step(progress.step, progress.total_steps)
        bar.update(1)
        if progress.step % log_every == 0 or progress.step == progress.total_steps:
            now = time.monotonic()
            row = {
                "step": progress.step,
                **{k: float(v) / count for k, v in sums.items()},
                "seconds": round(progress.train_seconds + now - mark, 2),
            }
            progress.log.append(row)
            bar.set_postfix(loss=f"{row.get('loss', float('nan')):.4f}", refresh=False)
            sums, count = {}, 0
        if time.monotonic() - last_checkpoint > checkpoint_minutes * 60:
            synchronize(stage.device)
            now = time.monotonic()
            progress.train_seconds += now - mark
            mark = last_checkpoint = now
            _checkpoint(stage, folder, progress)
    bar.close()
    synchronize(stage.device)
    progress.train_seconds += time.monotonic() - mark
    _checkpoint(stage, folder, progress)
    if progress.total_steps is None or progress.step < progress.total_steps:
        print(
            f"{stage.name}: stopped at step {progress.step} of {progress.total_steps or '?'}; run again to resume",
            flush=True,
        )
        return None
    summary = stage.finish(folder, progress)
    done = {
        "steps": progress.step,
        "train_minutes": round(progress.train_seconds / 60, 2),
        "settings": stage.settings_dict(),
        "device": device_name(),
        **summary,
    }
    write_done(folder, done)
    return done
