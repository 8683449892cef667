"""One step of work replayed as a CUDA graph: the capture protocol the training step and DeepInversion share.

A step of a few milliseconds of GPU work can be hundreds of small kernels, and the host launching them one by one
leaves the GPU waiting. :class:`GraphedStep` runs ``work`` for real a few times on a side stream (as capture
requires: cuDNN picks its algorithms, torch.compile compiles, the optimizer allocates its state), then captures
one call as a CUDA graph and replays it from then on. ``work`` reads its inputs from tensors that the caller
overwrites in place before each call, and starts by setting the gradients it accumulates to None: captured that
way, the backward pass writes them into the graph's own memory at every replay.

Each step captures on a stream of its own (:func:`own_stream`), never on torch's one default capture stream: PyTorch
keys its cuBLAS workspace by the capture stream, so graphs captured on one stream share one workspace, which
graphs replayed side by side must not. A grid of three PACS trainings replaying graphs captured on the shared
stream reached nan losses by step 225, all three, where its members trained alone did not; with a stream per step
the grid gives their accuracies alone to the last digit (in results/bench:
seed_noise_pacs_sketch_shared_capture_c02b6f7 and seed_noise_pacs_sketch_c0bc2cbfe92a).
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

import torch

from ..errors import ReproError

Output = TypeVar("Output")

#: the streams PyTorch hands out round-robin per device and priority (torch.cuda.Stream draws from this pool)
POOL_STREAMS = 32
#: (device, stream id) of the pool streams that a live owner holds
_held: set[tuple[int, int]] = set()


def own_stream(owner: object, device: torch.device) -> torch.cuda.Stream:
    """A stream of the device's pool that no other live owner holds, held until ``owner`` is garbage.

    Concurrent trainings each queue their work and capture their graph on such a stream: a stream shared by two
    live graphs would share their cuBLAS workspace (module docstring), and trainings sharing a stream would run in
    turns. The pool hands its streams out in turn, so a full round finds every free one."""
    for _round in range(2):
        for _ in range(POOL_STREAMS):
            stream = torch.cuda.Stream(device)
            key = (stream.device_index, stream.stream_id)
            if key not in _held:
                _held.add(key)
                weakref.finalize(owner, _held.discard, key)
                return stream
        gc.collect()  # owners left in reference cycles release their streams when collected
    raise ReproError(
        f"all {POOL_STREAMS} streams of {device}'s pool are held by trainings and graphed steps under way: "
        "train fewer classifiers at once (max_concurrent)"
    )


class GraphedStep(Generic[Output]):
    """``step()``: ``work()`` eagerly for the first ``warmup`` calls, then captured once and replayed; returns what
    ``work`` returned (after capture, the same static tensors, which every replay overwrites)."""

    def __init__(self, work: Callable[[], Output], device: torch.device, warmup: int = 3):
        self.work, self.device, self.warmup = work, device, warmup
        self.side = own_stream(self, device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.output: Output | None = None
        self.calls = 0

    def __call__(self) -> Output:
        self.calls += 1
        if self.graph is None and self.calls <= self.warmup:
            current = torch.cuda.current_stream(self.device)
            self.side.wait_stream(current)
            with torch.cuda.stream(self.side):
                output = self.work()
            current.wait_stream(self.side)
            return output
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, stream=self.side):
                self.output = self.work()
        self.graph.replay()
        return self.output
