"""How the UNet is called on a GPU: bf16 autocast, channels_last and torch.compile, shared by both stages.

Embeddings, optimizer state, scheduler arithmetic and losses stay fp32; only the model's own computation runs
in the reduced precision. ``precision="fp32"`` turns autocast off (the authors' setting).

A compiled UNet sees only a few batch sizes: each call's rows are padded with zeros up to the next power of two
(at least ``MIN_COMPILED_BATCH``) and the padding's outputs dropped. Without it the last, smaller batch of a run
(5000 images in groups of 1024 end with 904) makes torch.compile compile the whole graph a second time, for a
dynamic batch, in every job. No row of the UNet depends on another (GroupNorm and attention are per image), so
padding changes no real row's output or gradient.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import ReproError

AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def precision_of(dtype: torch.dtype) -> str:
    """The precision name (``fp32``, ``bf16``, ``fp16``) of a model loaded in ``dtype``."""
    names = {d: name for name, d in AUTOCAST_DTYPES.items() if d is not None}
    return names.get(dtype, "fp32")


UnetFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

#: the smallest batch a compiled UNet is called with (smaller calls are padded to it)
MIN_COMPILED_BATCH = 64


def compiled_batch(rows: int) -> int:
    """The batch a compiled UNet runs ``rows`` rows in: the next power of two, at least MIN_COMPILED_BATCH."""
    return max(MIN_COMPILED_BATCH, 1 << (rows - 1).bit_length())


def _graph_input(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    """``tensor`` padded with zero rows to ``rows``, as a plain contiguous tensor: the compiled graph guards on each
    input's type and strides, so the unpadded rows of a full batch, passed as they come (the trainer's embedding
    Parameter, latents in the VAE's layout), would compile it a second time beside the padded batch's."""
    if tensor.shape[0] < rows:
        tensor = torch.cat([tensor, tensor.new_zeros((rows - tensor.shape[0], *tensor.shape[1:]))])
    return tensor.as_subclass(torch.Tensor).contiguous()


@dataclass(frozen=True)
class FastPath:
    precision: str = "fp32"
    channels_last: bool = True  # applied on CUDA only, where convolutions gain from it
    compile: bool = False

    def __post_init__(self) -> None:
        if self.precision not in AUTOCAST_DTYPES:
            raise ReproError(f"unknown precision {self.precision!r}; use one of {', '.join(AUTOCAST_DTYPES)}")

    def autocast(self, device: torch.device):
        dtype = AUTOCAST_DTYPES[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(device).type, dtype=dtype)

    def check_model_dtype(self, model_dtype: torch.dtype) -> None:
        """Reduced-precision weights need autocast (fp32 inputs would not match them)."""
        if model_dtype != torch.float32 and AUTOCAST_DTYPES[self.precision] != model_dtype:
            raise ReproError(
                f"the generator is loaded in {model_dtype} but precision is {self.precision!r}; load it in fp32 "
                f"for fp32 runs, or pass the matching precision (--dtype sets both)"
            )

    def unet_fn(self, unet) -> UnetFn:
        """``fn(latents, timesteps, conditioning) -> model output`` on the fast path; build once per run."""
        device = next(unet.parameters()).device
        use_channels_last = self.channels_last and device.type == "cuda"
        if use_channels_last:
            unet.to(memory_format=torch.channels_last)
        # static shapes: one graph per padded batch size, never a dynamic-batch recompilation
        module = torch.compile(unet, dynamic=False) if self.compile else unet

        def call(latents: torch.Tensor, timesteps: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
            rows = latents.shape[0]
            if self.compile:
                padded = compiled_batch(rows)
                latents, timesteps, conditioning = (_graph_input(t, padded) for t in (latents, timesteps, conditioning))
            if use_channels_last:
                latents = latents.contiguous(memory_format=torch.channels_last)
            output = module(latents, timesteps, encoder_hidden_states=conditioning, return_dict=False)[0]
            return output[:rows]

        return call
