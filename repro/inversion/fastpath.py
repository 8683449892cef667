"""How the UNet is called on a GPU: bf16 autocast, channels_last and torch.compile, shared by both stages.

Embeddings, optimizer state, scheduler arithmetic and losses stay fp32; only the model's own computation runs
in the reduced precision. ``precision="fp32"`` turns autocast off (the authors' setting).
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
        module = torch.compile(unet) if self.compile else unet

        def call(latents: torch.Tensor, timesteps: torch.Tensor, conditioning: torch.Tensor) -> torch.Tensor:
            if use_channels_last:
                latents = latents.contiguous(memory_format=torch.channels_last)
            return module(latents, timesteps, encoder_hidden_states=conditioning, return_dict=False)[0]

        return call
