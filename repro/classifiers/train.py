"""The training loop: GPU-resident batches, bf16, channels-last, and the whole step replayed as a CUDA graph.

At the paper's batch of 128 a ResNet-18 step at 32 px is a few milliseconds of GPU work but hundreds of kernel
launches, so a plain loop leaves the GPU waiting on Python. :class:`TrainStep` removes that: the model is
optionally compiled (fused kernels), and forward, loss, backward and the fused optimizer update (its learning
rate a device tensor) are captured once as a CUDA graph and replayed every step; only the batch copy, the
schedule's lr write and the augmentation run outside it. The same step function runs eagerly on CPU, so the
tests exercise the code the GPU replays.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ReproError
from .augment import batch_augmentation
from .mixing import TrainingData
from .recipes import Recipe


@dataclass(frozen=True)
class Speed:
    """How the step runs. ``Speed.auto(device)``: everything on for CUDA, plain fp32 on CPU."""

    bf16: bool = True
    channels_last: bool = True
    #: torch.compile mode for the model (None: eager): "default" fuses BatchNorm/ReLU/add into few kernels and
    #: compiles in about a minute; "max-autotune-no-cudagraphs" also autotunes matmul/conv templates (much
    #: longer compile). Never a mode with cudagraphs: the CUDA graph is ours and covers the optimizer too.
    compile: str | None = "default"
    cuda_graph: bool = True
    #: eager steps before the graph is captured (allocations, compilation, optimizer state)
    graph_warmup: int = 3

    @classmethod
    def auto(cls, device: torch.device) -> Speed:
        return cls() if device.type == "cuda" else cls.plain()

    @classmethod
    def plain(cls) -> Speed:
        return cls(bf16=False, channels_last=False, compile=None, cuda_graph=False)


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ReproError("--device cuda was asked but no CUDA GPU is visible; use --device cpu")
    return device


def autocast(device: torch.device, speed: Speed, graphed: bool = False):
    """bf16 autocast when ``speed.bf16``; its weight-cast cache off under graph capture (it would go stale)."""
    if not speed.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=not graphed)


def soft_cross_entropy(logits: torch.Tensor, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross entropy against soft targets [N, C] (one-hot, or mixed by MixUp/CutMix); fp32 log-softmax."""
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


class TrainStep:
    """``step(images, targets) -> loss`` (a device scalar; read it rarely, reading syncs)."""

    def __init__(
        self,
        model: nn.Module,
        objective,
        optimizer: torch.optim.Optimizer,
        batch_shape: tuple,
        num_classes: int,
        device: torch.device,
        speed: Speed,
    ):
        self.model, self.objective, self.optimizer = model, objective, optimizer
        self.device, self.speed = device, speed
        self.forward = torch.compile(model, mode=speed.compile) if speed.compile else model
        self.graphed = speed.cuda_graph and device.type == "cuda"
        memory_format = torch.channels_last if speed.channels_last else torch.contiguous_format
        self.images = torch.zeros(batch_shape, device=device).contiguous(memory_format=memory_format)
        self.targets = torch.zeros(batch_shape[0], num_classes, device=device)
        self.side = torch.cuda.Stream(device) if self.graphed else None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.loss: torch.Tensor | None = None
        self.calls = 0

    def _run(self) -> torch.Tensor:
        with autocast(self.device, self.speed, graphed=self.graphed):
            logits = self.forward(self.images)
            loss = self.objective(logits, self.images, self.targets)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def __call__(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if images.shape != self.images.shape:
            raise ReproError(
                f"a batch of shape {tuple(images.shape)} reached a step built for {tuple(self.images.shape)}"
            )
        self.images.copy_(images)
        self.targets.copy_(targets)
        self.calls += 1
        if not self.graphed:
            self.optimizer.zero_grad(set_to_none=True)
            return self._run()
        if self.graph is None and self.calls <= self.speed.graph_warmup:
            # Warm-up on a side stream, as CUDA graph capture requires: real steps that also allocate the
            # optimizer state and let torch.compile compile.
            self.side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self.side):
                self.optimizer.zero_grad(set_to_none=True)
                loss = self._run()
            torch.cuda.current_stream(self.device).wait_stream(self.side)
            return loss
        if self.graph is None:
            self.optimizer.zero_grad(set_to_none=True)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.loss = self._run()
        self.graph.replay()
        return self.loss


@dataclass
class TrainReport:
    steps: int
    seconds: float
    #: images per second over the steps after the first ``timed_from`` (warm-up, compilation, capture excluded)
    images_per_second: float
    timed_from: int
    losses: list[tuple[int, float]] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        return self.losses[-1][1] if self.losses else float("nan")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_classifier(
    model: nn.Module,
    data: TrainingData,
    recipe: Recipe,
    *,
    augment: str = "default",
    objective=None,
    seed: int = 0,
    device: str | torch.device | None = None,
    speed: Speed | None = None,
    cutout_side: float = 1 / 8,
    meada=None,
    log_every: int = 100,
    progress: bool = True,
) -> TrainReport:
    """Train ``model`` (a :class:`~.models.Classifier`) in place for ``recipe.steps`` steps.

    ``augment``: one of :data:`~.augment.AUGMENTATIONS`, applied after the default crop and flip; ``meada``
    with ``augment="meada"`` is a :class:`~.meada.MeAda` (its defaults when None). ``objective(logits, images,
    targets)`` defaults to the soft cross entropy; :class:`~.distill.Distillation` distils a teacher.
    """
    device = resolve_device(device)
    speed = speed or Speed.auto(device)
    num_classes = len(data.classes)
    if getattr(model, "num_classes", num_classes) != num_classes:
        raise ReproError(f"the model predicts {model.num_classes} classes but the data has {num_classes}")
    if getattr(model, "resolution", data.resolution) != data.resolution:
        raise ReproError(f"the model was built for {model.resolution} px but the images are {data.resolution} px")
    if augment == "meada":
        from .meada import MeAda

        meada = meada or MeAda()
    elif meada is not None:
        raise ReproError("a MeAda schedule was given but augment is not 'meada'")
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest conv algorithms once
    model.to(device).train()
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer, lr = recipe.optimizer_for(model.parameters(), device, capturable=speed.cuda_graph)
    objective = objective or soft_cross_entropy
    resolution = data.resolution
    step_fn = TrainStep(
        model, objective, optimizer, (recipe.batch_size, 3, resolution, resolution), num_classes, device, speed
    )
    augmentation = batch_augmentation(augment, seed=seed, cutout_side=cutout_side)
    crop_pad = recipe.padding(resolution)
    stream = data.stream(recipe.batch_size, device, seed, crop_pad, recipe.flip)
    phases = set(meada.phase_steps(recipe.steps)) if meada is not None else set()

    timed_from = min(max(speed.graph_warmup + 2, recipe.steps // 10), recipe.steps - 1)
    losses: list[tuple[int, float]] = []
    running = torch.zeros((), device=device)
    start = time.perf_counter()
    bar = _progress(recipe.steps, progress)
    for step in range(recipe.steps):
        if step in phases:
            data = data.extended(*meada.generate(model, data, recipe.batch_size, device, speed))
            stream = data.stream(recipe.batch_size, device, seed + step, crop_pad, recipe.flip)
            model.train()
        if step == timed_from:
            _sync(device)
            timed_start = time.perf_counter()
        lr.fill_(recipe.lr_at(step))
        images, labels = next(stream)
        targets = F.one_hot(labels, num_classes).float()
        if augmentation is not None:
            images, targets = augmentation(images, targets)
        running += step_fn(images, targets)
        if (step + 1) % log_every == 0 or step + 1 == recipe.steps:
            count = (step % log_every) + 1
            mean_loss = running.item() / count
            running.zero_()
            if not mean_loss == mean_loss or mean_loss == float("inf"):
                raise ReproError(f"the training loss became {mean_loss} by step {step + 1}; lower the learning rate")
            losses.append((step + 1, mean_loss))
            bar.set_postfix(loss=f"{mean_loss:.3f}")
        bar.update(1)
    _sync(device)
    end = time.perf_counter()
    bar.close()
    model.eval()
    timed_images = (recipe.steps - timed_from) * recipe.batch_size
    return TrainReport(
        steps=recipe.steps,
        seconds=end - start,
        images_per_second=timed_images / max(end - timed_start, 1e-9),
        timed_from=timed_from,
        losses=losses,
    )


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc="train", unit="step", mininterval=2.0)
