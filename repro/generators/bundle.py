"""A text-to-image latent diffusion model as one bundle of swappable diffusers parts.

The same code path loads Stable Diffusion v1.4 / 2.1 from the hub, the embedded mini model from the package,
any local diffusers folder, and the tiny random models of the tests. Everything downstream (inversion,
sampling, DDIS) talks to a ``GeneratorBundle`` and never to a specific model.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ReproError

#: Short names for the generators the papers use, and the embedded one.
HUB_IDS = {
    "sd14": "CompVis/stable-diffusion-v1-4",
    "sd21": "stabilityai/stable-diffusion-2-1",
    "sd21-base": "stabilityai/stable-diffusion-2-1-base",
}
#: Native image resolution by short name (the experiments choose their own target resolution).
NATIVE_RESOLUTION = {"sd14": 512, "sd21": 768, "sd21-base": 512}
MINI_DIR = Path(__file__).resolve().parent / "weights" / "mini"
#: Names another folder for the short name ``mini`` (the smoke scale pretrains its own in a few CPU steps, so
#: its DAG needs no committed weights); unset, ``mini`` is the committed model.
MINI_ENV = "REPRO_MINI_GENERATOR"

DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ReproError(f"unknown dtype {dtype!r}; use one of fp32, bf16, fp16")
    return DTYPES[dtype]


@dataclass
class GeneratorBundle:
    """VAE, UNet, text encoder, tokenizer and training noise scheduler of one latent diffusion model."""

    name: str
    vae: Any
    unet: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    resolution: int
    #: hash of the weights (repro.fingerprint): what the resume guards compare, beside the name
    fingerprint: str = ""

    # --- shapes the rest of the suite checks its inputs against -------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def label(self) -> str:
        """How result rows name this generator: its short name and the fingerprint of its weights."""
        return _label(self.name, self.fingerprint)

    @property
    def text_width(self) -> int:
        return int(self.text_encoder.config.hidden_size)

    @property
    def max_tokens(self) -> int:
        return int(self.tokenizer.model_max_length)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def prediction_type(self) -> str:
        return str(self.scheduler.config.prediction_type)

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    def latent_size(self, resolution: int | None = None) -> int:
        resolution = resolution or self.resolution
        if resolution % self.vae_scale_factor:
            raise ReproError(
                f"resolution {resolution} px is not a multiple of {self.name}'s VAE factor {self.vae_scale_factor}"
            )
        return resolution // self.vae_scale_factor

    # --- the three encoders, batched ----------------------------------------------------------------
    def tokenize(self, prompts: Sequence[str]) -> torch.Tensor:
        ids = self.tokenizer(
            list(prompts), padding="max_length", truncation=True, max_length=self.max_tokens, return_tensors="pt"
        ).input_ids
        return ids.to(self.text_encoder.device)

    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """Per-token text embeddings ``[len(prompts), max_tokens, text_width]`` (the UNet's conditioning)."""
        return self.text_encoder(self.tokenize(prompts))[0]

    def encode_images(self, images: torch.Tensor, sample: bool = False, generator=None) -> torch.Tensor:
        """Images in [-1, 1], ``[B, 3, H, W]`` -> scaled latents (posterior mean unless ``sample``)."""
        images = images.to(device=self.vae.device, dtype=self.vae.dtype)
        posterior = self.vae.encode(images).latent_dist
        latents = posterior.sample(generator) if sample else posterior.mean
        return latents * self.scaling_factor

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> images in [-1, 1] (not clamped, so gradients flow for DDIS)."""
        return self.vae.decode(latents.to(self.vae.dtype) / self.scaling_factor).sample

    def to(self, device=None, dtype=None) -> GeneratorBundle:
        for module in (self.vae, self.unet, self.text_encoder):
            module.to(device=device, dtype=dtype)
        return self

    def freeze(self) -> GeneratorBundle:
        """Eval mode and no parameter gradients: inversion and DDIS train inputs, never the model."""
        for module in (self.vae, self.unet, self.text_encoder):
            module.eval().requires_grad_(False)
        return self


def save_bundle(bundle: GeneratorBundle, folder: str | os.PathLike) -> Path:
    """Write a bundle as a diffusers folder (vae/, unet/, text_encoder/, tokenizer/, scheduler/) with the
    ``model_index.json`` that lets diffusers' own ``StableDiffusionPipeline.from_pretrained(folder,
    safety_checker=None)`` load it, not only :func:`load_generator`."""
    import json

    import diffusers

    folder = Path(folder)
    parts = {"vae": "diffusers", "unet": "diffusers", "text_encoder": "transformers", "scheduler": "diffusers"}
    for part in (*parts, "tokenizer"):
        getattr(bundle, part).save_pretrained(folder / part)
    index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": diffusers.__version__,
        **{part: [library, type(getattr(bundle, part)).__name__] for part, library in parts.items()},
        # the fast tokenizer class under the name both transformers 4 and 5 know
        "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
        "safety_checker": [None, None],
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "requires_safety_checker": False,
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder


def mini_dir() -> Path:
    """The folder the short name ``mini`` loads: ``$REPRO_MINI_GENERATOR``, else the committed weights."""
    override = os.environ.get(MINI_ENV)
    return Path(override).expanduser().resolve() if override else MINI_DIR


def mini_checkpoint(fraction: float) -> Path:
    """The early UNet of the mini model at ``fraction`` of its pretraining (Figure 5's generator-quality axis),
    beside the model folder as ``mini_checkpoints/unet_010.safetensors`` (10 %); 1.0 is the final model."""
    path = mini_dir().parent / "mini_checkpoints" / f"unet_{round(100 * fraction):03d}.safetensors"
    if not path.exists():
        shipped = sorted(p.name for p in path.parent.glob("unet_*.safetensors")) if path.parent.is_dir() else []
        raise ReproError(
            f"no mini UNet checkpoint at {fraction:.0%} of pretraining ({path}); shipped: "
            f"{shipped or 'none'}; choose a fraction among those or rerun `repro pretrain export`"
        )
    return path


def _hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_snapshot(hub_id: str) -> Path | None:
    """The cached snapshot folder of a hub model (``.../snapshots/<commit>``), which names its weights."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(hub_id, local_files_only=True))
    except Exception:  # not cached as one snapshot: the fingerprint falls back to the id
        return None


def generator_fingerprint(source: str | os.PathLike = "mini", unet_weights: str | os.PathLike | None = None) -> str:
    """The fingerprint :func:`load_generator` gives ``source`` (without loading it), for comparing it with the
    one an asset recorded."""
    from ..fingerprint import folder_fingerprint

    name = str(source)
    folder = (
        mini_dir()
        if name == "mini"
        else Path(name).expanduser()
        if Path(name).expanduser().is_dir()
        else _hub_snapshot(HUB_IDS.get(name, name))
    )
    extra = [unet_weights] if unet_weights is not None else []
    return folder_fingerprint(folder, extra) if folder is not None else f"hub:{name}"


def _label(name: str, fingerprint: str) -> str:
    return f"{name} ({fingerprint})"


def generator_label(source: str | os.PathLike) -> str:
    """:attr:`GeneratorBundle.label` of ``source`` without loading it, e.g. ``mini (6c3d665fc6acb26c)``: a result
    row names the weights it was computed with, not only the name that may point at other weights tomorrow."""
    return _label(str(source), generator_fingerprint(source))


def _load_parts(source: str | Path, local_only: bool) -> dict:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextModel

    kw = {"local_files_only": local_only}
    return {
        "vae": AutoencoderKL.from_pretrained(source, subfolder="vae", **kw),
        "unet": UNet2DConditionModel.from_pretrained(source, subfolder="unet", **kw),
        "text_encoder": CLIPTextModel.from_pretrained(source, subfolder="text_encoder", **kw),
        "tokenizer": AutoTokenizer.from_pretrained(source, subfolder="tokenizer", **kw),
        "scheduler": DDPMScheduler.from_pretrained(source, subfolder="scheduler", **kw),
    }


def load_generator(
    source: str | os.PathLike = "mini",
    dtype: str | torch.dtype = "fp32",
    device: str | torch.device = "cpu",
    resolution: int | None = None,
    unet_weights: str | os.PathLike | None = None,
) -> GeneratorBundle:
    """Load a generator by short name (``mini``, ``sd14``, ``sd21``, ``sd21-base``), hub id or local folder.

    ``unet_weights`` swaps in a UNet state dict (safetensors), e.g. an early checkpoint of the mini model.
    Hub models are read from the local cache first; a download is tried only when the hub answers, so an
    offline machine gets an error at once instead of a hang.
    """
    name = str(source)
    folder = None  # the local folder the weights come from, for their fingerprint
    if name == "mini":
        folder = mini_dir()
        if not (folder / "unet").is_dir():
            where = f"${MINI_ENV} = {folder}" if os.environ.get(MINI_ENV) else str(folder)
            raise ReproError(
                f"the embedded mini model is missing from {where}; reproduce it with `repro pretrain all` "
                f"(or `snakemake pretrain_mini`), restore it from git, or point ${MINI_ENV} at a pretrained folder"
            )
        parts, native = _load_parts(folder, local_only=True), None
    elif Path(name).expanduser().is_dir():
        folder = Path(name).expanduser()
        parts, native = _load_parts(folder, local_only=True), None
    else:
        hub_id = HUB_IDS.get(name, name)
        native = NATIVE_RESOLUTION.get(name)
        try:
            parts = _load_parts(hub_id, local_only=True)
        except (OSError, ValueError) as cached_miss:
            if not _hub_reachable():
                raise ReproError(
                    f"generator {name!r} ({hub_id}) is not in the local Hugging Face cache and the hub cannot be "
                    "reached; run once on a machine with internet (it caches under $HF_HOME), or pass a local "
                    "diffusers folder instead"
                ) from cached_miss
            parts = _load_parts(hub_id, local_only=False)
        folder = _hub_snapshot(hub_id)
    if unet_weights is not None:
        from safetensors.torch import load_file

        from ..files import check_finite, read_damageable

        fix = "use a UNet checkpoint of this generator (safetensors), e.g. from repro/generators/weights"
        state = read_damageable(unet_weights, lambda p: load_file(str(p)), "UNet weights file", fix)
        for key, tensor in state.items():
            check_finite(tensor, f"UNet weights {unet_weights} (tensor {key})", fix)
        missing, unexpected = parts["unet"].load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ReproError(
                f"UNet weights {unet_weights} do not fit generator {name!r}: "
                f"{len(missing)} missing and {len(unexpected)} unexpected tensors"
            )
        # another UNet is another generator: the name goes into every embedding's and image's provenance
        name = f"{name}+{Path(unet_weights).stem}"
    if resolution is None:
        resolution = native or int(parts["unet"].config.sample_size) * 2 ** (
            len(parts["vae"].config.block_out_channels) - 1
        )
    from ..fingerprint import folder_fingerprint

    extra = [unet_weights] if unet_weights is not None else []
    fingerprint = folder_fingerprint(folder, extra) if folder is not None else f"hub:{name}"
    bundle = GeneratorBundle(name=name, resolution=int(resolution), fingerprint=fingerprint, **parts)
    return bundle.to(device=device, dtype=resolve_dtype(dtype)).freeze()
