"""Generation inside a notebook: variants sampled with an experiment's own settings (the Figure 8 sweeps, the
metric sets) and inversions with another generator (Figure 5's early checkpoints), written under the
experiment's scratch folder so that a rerun resumes instead of starting over.

The generator bundle is loaded once per (source, UNet weights, dtype) and kept for the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from ..generators import load_generator
from ..inversion import InversionConfig, invert, load_checkpoints
from ..inversion.store import EmbeddingTable
from ..provenance import phase
from ..sampling import SamplingConfig, sample_dataset
from .protocol import Synthetic

#: generator names that build an SD-shaped model with random weights (same compute, no weights needed: timing)
RANDOM_SHAPES = {"sd14-random": "sd14", "sd21-random": "sd21"}


@lru_cache(maxsize=4)
@phase("generator")  # as the asset commands' loads: building an SD-shaped model, or the imports and the weights
def _bundle(source: str, dtype: str, device: str, unet_weights: str | None):
    if source in RANDOM_SHAPES:
        from ..generators.sd_shapes import sd_shaped_generator

        return sd_shaped_generator(RANDOM_SHAPES[source], device=device, dtype=dtype)
    return load_generator(source, dtype=dtype, device=device, unet_weights=unet_weights)


def generator(run, source: str = "mini", dtype: str = "fp32", unet_weights: str | Path | None = None):
    """The frozen generator ``source`` on the run's device (``unet_weights``: an early UNet checkpoint;
    ``sd14-random`` / ``sd21-random``: SD's architecture with random weights, built offline, for timing)."""
    return _bundle(str(source), dtype, run.device, str(unet_weights) if unet_weights else None)


def _compile(run) -> bool:
    """torch.compile the UNet on a GPU (speed only: not part of the settings' hash); eager on a CPU."""
    return str(run.device).startswith("cuda")


def _as_list(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _subset(table: EmbeddingTable, ids: set[str]) -> EmbeddingTable:
    keep = [i for i, image_id in enumerate(table.ids) if image_id in ids]
    return EmbeddingTable(
        table.embeddings[keep], table.labels[keep], table.index[keep], [table.ids[i] for i in keep], table.meta
    )


def sample_set(
    run,
    inversion: str | Path,
    name: str,
    *,
    generator_source: str = "mini",
    dtype: str = "fp32",
    unet_weights: str | Path | None = None,
    ids: Iterable[str] | None = None,
    per_image: int = 1,
    guidance: float | Sequence[float] = 2.0,
    noise: float | Sequence[float] = 0.1,
    interpolation: float | Sequence[float] = 0.1,
    checkpoints: Sequence[int] | None = None,
    scheduler: str = "ddim",
    inference_steps: int = 100,
    uncond: str = "mean",
    seed: int = 0,
) -> Synthetic:
    """Variants of the embeddings in ``inversion`` (only ``ids`` when given) with these settings, written to
    the scratch folder ``name`` (named with the settings' hash too; resumed shard by shard) and loaded."""
    tables = load_checkpoints([inversion])
    if ids is not None:
        wanted = set(map(str, ids))
        tables = {step: _subset(table, wanted) for step, table in tables.items()}
    first = next(iter(tables.values()))
    config = SamplingConfig(
        per_image=int(per_image),
        guidance=_as_list(guidance),
        noise=_as_list(noise),
        interpolate=_as_list(interpolation),
        checkpoints=None if checkpoints is None else tuple(_as_list(checkpoints)),
        scheduler=scheduler,
        steps=int(inference_steps),
        uncond=uncond,
        seed=seed,
        precision=dtype,
        compile=_compile(run),
        # batches of the embeddings' own inversion (the shared assets': 1024 at mini): the device that learned them
        # held that many forward and backward passes of this generator, more than sampling as many images needs
        batch=int(first.meta.get("config", {}).get("batch", SamplingConfig.batch)),
    )
    bundle = generator(run, generator_source, dtype, unet_weights)
    folder = run.scratch(
        name,
        {
            "sampling": config.hash(),
            "embeddings": first.meta["config_hash"],
            "ids": sorted(first.ids),
            "weights": bundle.fingerprint,
        },
    )
    with phase("sampling"):
        sample_dataset(bundle, tables, folder, config, progress=False)
    return Synthetic(folder, name=name)


def invert_set(
    run,
    images,
    name: str,
    *,
    generator_source: str = "mini",
    dtype: str = "fp32",
    unet_weights: str | Path | None = None,
    steps: int,
    checkpoints: Sequence[int] | None = None,
    lr: float = 0.03,
    resolution: int | None = None,
    batch: int = InversionConfig.batch,
) -> Path:
    """Stage 1 on ``images`` (an ``ImageSet``) into the scratch folder ``name`` (named with the settings' hash
    too), ``batch`` images learned together; resumes where it stopped."""
    bundle = generator(run, generator_source, dtype, unet_weights)
    config = InversionConfig(
        steps=int(steps),
        checkpoints=None if checkpoints is None else tuple(checkpoints),
        lr=float(lr),
        resolution=resolution,
        batch=int(batch),
        precision=dtype,
        compile=_compile(run),
    )
    folder = run.scratch(name, {"inversion": config.hash(), "ids": list(images.ids), "weights": bundle.fingerprint})
    with phase("inversion"):
        invert(
            bundle,
            images.images,
            images.labels,
            images.ids,
            images.classes,
            folder,
            config,
            dataset=images.name,
            split="",
            progress=False,
        )
    return folder
