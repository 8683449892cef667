"""One step of work replayed as a CUDA graph: the capture protocol the training step and DeepInversion share.

A step of a few milliseconds of GPU work can be hundreds of small kernels, and the host launching them one by one
leaves the GPU waiting. :class:`GraphedStep` runs ``work`` for real a few times on a side stream (as capture
requires: cuDNN picks its algorithms, torch.compile compiles, the optimizer allocates its state), then captures
one call as a CUDA graph and replays it from then on. ``work`` reads its inputs from tensors that the caller
overwrites in place before each call, and starts by setting the gradients it accumulates to None: captured that
way, the backward pass writes them into the graph's own memory at every replay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import torch

Output = TypeVar("Output")


class GraphedStep(Generic[Output]):
    """``step()``: ``work()`` eagerly for the first ``warmup`` calls, then captured once and replayed; returns what
    ``work`` returned (after capture, the same static tensors, which every replay overwrites)."""

    def __init__(self, work: Callable[[], Output], device: torch.device, warmup: int = 3):
        self.work, self.device, self.warmup = work, device, warmup
        self.side = torch.cuda.Stream(device)
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
            with torch.cuda.graph(self.graph):
                self.output = self.work()
        self.graph.replay()
        return self.output
