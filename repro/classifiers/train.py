"""The training loop: GPU-resident batches, bf16, channels-last, and the whole step replayed as a CUDA graph;
the trainings of a grid advanced together, each on its own CUDA stream.

At the paper's batch of 128 a ResNet-18 step at 32 px is a few milliseconds of GPU work but hundreds of kernel
launches, so a plain loop leaves the GPU waiting on Python. :class:`TrainStep` removes that: the model is
optionally compiled (fused kernels), and forward, loss, backward and the fused optimizer update (its learning
rate a device tensor) are captured once as a CUDA graph and replayed every step; only the batch copy, the
schedule's lr write and the augmentation run outside it. The same step function runs eagerly on CPU, so the
tests exercise the code the GPU replays.

Even so one such training fills only part of an H100, and the experiments train grids of them (datasets x
settings x seeds). :func:`train_classifiers` advances up to ``max_concurrent`` trainings step by step, each
with its own model, data stream, augmentation, recipe, seed and CUDA graph, and each issuing its work on its
own CUDA stream, so the GPU runs their graphs side by side. No training depends on the others: its randomness
comes from its own generators (the data stream's, the augmentation's, and its own state of torch's global
generators, swapped in around its work: :class:`OwnRandomness`), so a model trained in a grid is the model
trained alone with the same seed. On the CPU the same code interleaves the trainings one step at a time.
:func:`train_classifier` is a grid of one.

A training whose loss becomes nan or inf off the plain path is trained again from its initial weights on the plain
path (fp32, eager) beside the others, with a warning and its report's ``fallback`` saying so; one that diverges on
the plain path stops the grid with an error naming it.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ReproError
from .augment import batch_augmentation
from .graphed import GraphedStep, own_stream
from .meada import MeAda
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

    def fast_parts(self, device: torch.device) -> list[str]:
        """What of the fast path a training on ``device`` runs (none: the plain step)."""
        parts = {
            "bf16": self.bf16,
            "channels-last": self.channels_last,
            "compiled": self.compile,
            "CUDA graph": self.cuda_graph and device.type == "cuda",
        }
        return [name for name, used in parts.items() if used]


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
        # static shapes: a grid's trainings of other batch sizes each get their own specialised kernels instead of
        # one dynamic-shape graph for all
        self.forward = torch.compile(model, mode=speed.compile, dynamic=False) if speed.compile else model
        self.graphed = speed.cuda_graph and device.type == "cuda"
        memory_format = torch.channels_last if speed.channels_last else torch.contiguous_format
        self.images = torch.zeros(batch_shape, device=device).contiguous(memory_format=memory_format)
        self.targets = torch.zeros(batch_shape[0], num_classes, device=device)
        self.replay = GraphedStep(self._run, device, speed.graph_warmup) if self.graphed else None

    def _run(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
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
        return self.replay() if self.replay is not None else self._run()


#: compiled variants of the one forward code (``Classifier.forward``) that torch.compile may keep: one per
#: architecture, batch and resolution met in the process, since the grids of a notebook add theirs one after
#: another; past its default limit (8) it would fall back to eager kernels with no more than a log line
COMPILED_VARIANTS = 64
#: trainings a grid runs at once on one GPU by default: eight ResNet-18 steps at batch 128 keep an H100 busy
#: (bench/classifier_speed.py measures grids of 8 and 16) at a few GiB each. Each training holds two CUDA streams
#: of PyTorch's pool of 32 per device (its own and its step's capture stream, :func:`~.graphed.own_stream`): at
#: most 16 train at once
MAX_CONCURRENT = 8


@dataclass(frozen=True)
class TrainingJob:
    """One classifier to train, as :func:`train_classifier` takes it; a grid is a list of them.

    ``augment``: one of :data:`~.augment.AUGMENTATIONS`, applied after the default crop and flip; ``meada``
    with ``augment="meada"`` is a :class:`~.meada.MeAda` (its defaults when None). ``objective(logits, images,
    targets)`` defaults to the soft cross entropy; :class:`~.distill.Distillation` distils a teacher. ``name``
    says which training an error or the progress bar is about.
    """

    model: nn.Module
    data: TrainingData
    recipe: Recipe
    augment: str = "default"
    objective: Callable | None = None
    seed: int = 0
    cutout_side: float = 1 / 8
    meada: MeAda | None = None
    name: str = ""


@dataclass
class TrainReport:
    steps: int
    #: wall seconds from this training's set-up to its last step (when trained together, a span it shared)
    seconds: float
    #: images per second over the steps after the first ``timed_from`` (warm-up, compilation, capture excluded);
    #: when trained together, this training's own rate while it shared the device with the others
    images_per_second: float
    timed_from: int
    losses: list[tuple[int, float]] = field(default_factory=list)
    #: the most trainings that ran at once while this one ran (1: it ran alone)
    concurrent: int = 1
    #: empty when the training ran on its path; else what made it train again on the plain path
    fallback: str = ""

    @property
    def final_loss(self) -> float:
        return self.losses[-1][1] if self.losses else float("nan")


class Diverged(ReproError):
    """A training's loss became nan or inf: the one error after which a training off the plain path trains again."""

    def __init__(self, loss: float, step: int):
        self.what = f"the training loss became {loss} by step {step}"
        super().__init__(f"{self.what}; lower the learning rate")


class OwnRandomness:
    """A training's own state of torch's global generators, swapped in around its work and back out after it.

    Dropout and stochastic depth (MobileNetV2, EfficientNet-B0) draw from the global generators, so trainings
    interleaved on one device would otherwise draw each other's numbers. The CUDA state is swapped graph-safely:
    a CUDA graph captured while a training's state is in place draws from that state at every replay, so the
    concurrent replays of different trainings never share an RNG offset.
    """

    def __init__(self, seed: int, device: torch.device):
        self.cpu = torch.Generator().manual_seed(seed).get_state()
        self.cuda = None
        if device.type == "cuda":
            self.cuda = torch.Generator(device).manual_seed(seed).graphsafe_get_state()  # (initialises CUDA)
            index = device.index if device.index is not None else torch.cuda.current_device()
            self.global_cuda = torch.cuda.default_generators[index]

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        outer_cpu = torch.get_rng_state()
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            outer_cuda = self.global_cuda.graphsafe_get_state()
            self.global_cuda.graphsafe_set_state(self.cuda)
        try:
            yield
        finally:
            self.cpu = torch.get_rng_state()
            torch.set_rng_state(outer_cpu)
            if self.cuda is not None:
                self.global_cuda.graphsafe_set_state(outer_cuda)


class _Training:
    """One job under way: its model on the device, its step, data stream, augmentation, randomness and stream."""

    def __init__(self, job: TrainingJob, device: torch.device, speed: Speed, log_every: int):
        model, data, recipe = job.model, job.data, job.recipe
        self.num_classes = len(data.classes)
        if getattr(model, "num_classes", self.num_classes) != self.num_classes:
            raise ReproError(f"the model predicts {model.num_classes} classes but the data has {self.num_classes}")
        if getattr(model, "resolution", data.resolution) != data.resolution:
            raise ReproError(f"the model was built for {model.resolution} px but the images are {data.resolution} px")
        self.meada = job.meada
        if job.augment == "meada":
            self.meada = job.meada or MeAda()
        elif job.meada is not None:
            raise ReproError("a MeAda schedule was given but augment is not 'meada'")
        self.job, self.data, self.device, self.speed, self.log_every = job, data, device, speed, log_every
        self.stream = own_stream(self, device) if device.type == "cuda" else None
        self.randomness = OwnRandomness(job.seed, device)
        self.start = self._mark()
        # the weights to train again from, should the loss diverge off the plain path (the plain path has no fallback)
        self.initial: dict[str, torch.Tensor] | None = None
        if speed.fast_parts(device):
            self.initial = {key: value.detach().to("cpu", copy=True) for key, value in model.state_dict().items()}
        self.fallback = ""
        # set up on the current stream, which the training's own stream waits for below: what lives on after the
        # training (the weights) belongs to the caller's stream
        model.to(device).train()
        # also back from channels-last: a training again on the plain path gets its model from the fast path
        model.to(memory_format=torch.channels_last if speed.channels_last else torch.contiguous_format)
        self.optimizer, self.lr = recipe.optimizer_for(model.parameters(), device, capturable=speed.cuda_graph)
        shape = (recipe.batch_size, 3, data.resolution, data.resolution)
        objective = job.objective or soft_cross_entropy
        self.step_fn = TrainStep(model, objective, self.optimizer, shape, self.num_classes, device, speed)
        self.augmentation = batch_augmentation(job.augment, seed=job.seed, cutout_side=job.cutout_side)
        self.crop_pad = recipe.padding(data.resolution)
        self.batches = data.stream(recipe.batch_size, device, job.seed, self.crop_pad, recipe.flip)
        self.phases = set(self.meada.phase_steps(recipe.steps)) if self.meada is not None else set()
        self.timed_from = min(max(speed.graph_warmup + 2, recipe.steps // 10), recipe.steps - 1)
        self.running = torch.zeros((), device=device)
        self.losses: list[tuple[int, float]] = []
        self.steps_done, self.concurrent = 0, 1
        if self.stream is not None:
            self.stream.wait_stream(torch.cuda.current_stream(device))

    @property
    def done(self) -> bool:
        return self.steps_done == self.job.recipe.steps

    @contextlib.contextmanager
    def _own(self) -> Iterator[None]:
        """The training's stream (its kernels queue apart from the others') and its randomness."""
        with torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext():
            with self.randomness.active():
                yield

    def _mark(self):
        """A point in time on the training's own stream (a CUDA event: no wait for the GPU), or the host's."""
        if self.stream is None:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record(self.stream)
        return event

    @staticmethod
    def _seconds(start, end) -> float:
        if isinstance(start, float):
            return end - start
        end.synchronize()
        return start.elapsed_time(end) / 1000

    def advance(self, concurrent: int) -> None:
        """One optimisation step, queued on the training's own stream with its own randomness."""
        self.concurrent = max(self.concurrent, concurrent)
        step, recipe, model = self.steps_done, self.job.recipe, self.job.model
        with self._own():
            if step in self.phases:
                grown = self.meada.generate(model, self.data, recipe.batch_size, self.device, self.speed)
                self.data = self.data.extended(*grown)
                self.batches = self.data.stream(
                    recipe.batch_size, self.device, self.job.seed + step, self.crop_pad, recipe.flip
                )
                model.train()
            if step == self.timed_from:
                self.timed_start = self._mark()
            self.lr.fill_(recipe.lr_at(step))
            images, labels = next(self.batches)
            targets = F.one_hot(labels, self.num_classes).float()
            if self.augmentation is not None:
                images, targets = self.augmentation(images, targets)
            self.running += self.step_fn(images, targets)
            self.steps_done += 1
            if self.steps_done % self.log_every == 0 or self.done:
                self._log()
            if self.done:
                self.end = self._mark()

    def _log(self) -> None:
        """The mean loss since the last log (reading it waits for this training's stream only)."""
        mean_loss = self.running.item() / ((self.steps_done - 1) % self.log_every + 1)
        self.running.zero_()
        if not math.isfinite(mean_loss):
            raise Diverged(mean_loss, self.steps_done)
        self.losses.append((self.steps_done, mean_loss))

    def _join_caller(self) -> None:
        """The caller's stream waits for this training's work: what it runs next reads the weights."""
        if self.stream is not None:
            torch.cuda.current_stream(self.device).wait_stream(self.stream)

    def again_plain(self, diverged: Diverged) -> _Training:
        """The job trained again from its initial weights on the plain path, after its loss diverged on this one's:
        a new training (randomness, data stream, augmentation and optimizer as fresh as this one's were) whose wall
        time counts this one's too."""
        self._join_caller()  # the weights are restored on the caller's stream
        self.job.model.load_state_dict(self.initial)  # BatchNorm's running statistics too
        again = _Training(self.job, self.device, Speed.plain(), self.log_every)
        again.start, again.concurrent = self.start, self.concurrent
        parts = ", ".join(self.speed.fast_parts(self.device))
        again.fallback = (
            f"{diverged.what} on the fast path ({parts}); trained again from its initial weights in fp32, eager"
        )
        return again

    def report(self) -> TrainReport:
        self._join_caller()  # whatever the caller runs next (evaluation) reads the trained weights
        self.job.model.eval()
        recipe = self.job.recipe
        timed_images = (recipe.steps - self.timed_from) * recipe.batch_size
        return TrainReport(
            steps=recipe.steps,
            seconds=self._seconds(self.start, self.end),
            images_per_second=timed_images / max(self._seconds(self.timed_start, self.end), 1e-9),
            timed_from=self.timed_from,
            losses=self.losses,
            concurrent=self.concurrent,
            fallback=self.fallback,
        )


def _room_for(job: TrainingJob, device: torch.device, running: dict) -> bool:
    """Whether a job may start beside the trainings running: its training images, copied to the GPU whole,
    take at most half the memory still free (a paper-scale synthetic set is several GiB), or nothing else runs."""
    if device.type != "cuda" or not running:
        return True
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    free = torch.cuda.mem_get_info(device)[0] + cached
    return 2 * sum(source.images.nbytes for source in job.data.sources) < free


@contextlib.contextmanager
def _about(label: str, concurrent: int) -> Iterator[None]:
    """Errors of one training of a grid name it."""
    try:
        yield
    except ReproError as error:
        if not label:
            raise
        raise ReproError(f"{label}: {error}") from error
    except torch.OutOfMemoryError as error:
        advice = f"lower max_concurrent ({concurrent} trainings ran at once)" if concurrent > 1 else "lower the batch"
        raise ReproError(f"{label or 'the training'} ran out of GPU memory; {advice}") from error


def train_classifiers(
    jobs: Iterable[TrainingJob],
    *,
    device: str | torch.device | None = None,
    speed: Speed | None = None,
    max_concurrent: int = MAX_CONCURRENT,
    log_every: int = 100,
    progress: bool = True,
    on_done: Callable[[int, TrainReport], None] | None = None,
) -> list[TrainReport]:
    """Train every job's model in place, up to ``max_concurrent`` at once; their reports, in the jobs' order.

    The trainings advance one step each in turn, each queued on its own CUDA stream, so their CUDA graphs run
    side by side; a training that ends makes room for the next job waiting. Each keeps its own CUDA graph and
    memory (they run concurrently, so they cannot share a graph's memory pool) and its own copy of its training
    images on the GPU: ``max_concurrent`` bounds the memory, and a job whose images would not fit beside the
    running ones waits for them. Every result is the one the job gives trained alone (:func:`train_classifier`).
    ``on_done(index, report)`` is called as each training ends, while the others go on (a grid scores and keeps
    it then); after it, this call holds no reference to that job's model.
    """
    jobs: list[TrainingJob | None] = list(jobs)
    if max_concurrent < 1:
        raise ReproError(f"max_concurrent must be at least 1, not {max_concurrent}")
    device = resolve_device(device)
    speed = speed or Speed.auto(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest conv algorithms once
    labels = [job.name or (f"training {i + 1} of {len(jobs)}" if len(jobs) > 1 else "") for i, job in enumerate(jobs)]
    reports: list[TrainReport | None] = [None] * len(jobs)
    waiting, running = deque(range(len(jobs))), {}
    bar = _progress(sum(job.recipe.steps for job in jobs), progress, len(jobs))
    limit = max(torch._dynamo.config.cache_size_limit, COMPILED_VARIANTS, len(jobs))
    with torch._dynamo.config.patch(cache_size_limit=limit):
        while waiting or running:
            while waiting and len(running) < max_concurrent and _room_for(jobs[waiting[0]], device, running):
                index = waiting.popleft()
                with _about(labels[index], len(running) + 1):
                    running[index] = _Training(jobs[index], device, speed, log_every)
            for index, training in list(running.items()):
                with _about(labels[index], len(running)):
                    try:
                        training.advance(len(running))
                    except Diverged as diverged:
                        if training.initial is None:  # it ran on the plain path: nothing to fall back to
                            raise
                        bar.total += training.steps_done
                        training = running[index] = training.again_plain(diverged)
                        about = f"{labels[index]}: " if labels[index] else ""
                        warnings.warn(about + training.fallback, stacklevel=2)  # at the caller's line
                bar.update(1)
                if training.done:
                    reports[index] = training.report()
                    del running[index]
                    if on_done is not None:
                        with _about(labels[index], len(running) + 1):
                            on_done(index, reports[index])
                    jobs[index] = None  # the caller's to keep or drop: a long grid holds no finished model
    bar.close()
    return reports


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
    """Train ``model`` (a :class:`~.models.Classifier`) in place for ``recipe.steps`` steps: a grid of one
    (:class:`TrainingJob` says what the options mean)."""
    job = TrainingJob(model, data, recipe, augment, objective, seed, cutout_side, meada)
    (report,) = train_classifiers([job], device=device, speed=speed, log_every=log_every, progress=progress)
    return report


def _progress(total: int, enabled: bool, trainings: int):
    from tqdm.auto import tqdm

    desc = "train" if trainings == 1 else f"train {trainings} classifiers"
    return tqdm(total=total, disable=not enabled, desc=desc, unit="step", mininterval=2.0)
