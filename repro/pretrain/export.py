"""Export the trained mini model as an fp16 diffusers folder (what ``load_generator("mini")`` reads).

``<weights>/mini/`` gets vae/, unet/ (the moving average), text_encoder/, tokenizer/, scheduler/ and
training/ (the loss logs and stage records the model card reads); ``<weights>/mini_checkpoints/`` gets the
early UNet checkpoints. Both are written beside the old ones and swapped in at the end.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from ..errors import ReproError
from ..generators.bundle import MINI_DIR
from .loop import LOG_FILE, read_done

#: the package's own weights folder, which holds the committed mini model (MINI_DIR) and its checkpoints
DEFAULT_WEIGHTS = MINI_DIR.parent
TRAINING_DIR = "training"


def _swap_in(tmp: Path, final: Path) -> None:
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def finished_records(work: Path) -> dict[str, dict]:
    records = {}
    for stage, command in (("autoencoder", "vae"), ("diffusion", "unet")):
        done = read_done(Path(work) / stage)
        if done is None:
            raise ReproError(
                f"the {stage} stage in {work} has not finished; run `repro pretrain {command} "
                f"--work {work}` until it does"
            )
        records[stage] = done
    return records


def export_mini(work: str | os.PathLike, weights: str | os.PathLike = DEFAULT_WEIGHTS) -> Path:
    """Write ``<weights>/mini`` and ``<weights>/mini_checkpoints`` from a finished run in ``work``."""
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, CLIPTextModel

    from ..generators.bundle import GeneratorBundle, save_bundle
    from ..generators.mini_config import RESOLUTION, build_scheduler, build_unet
    from .autoencoder import FINAL_DIR as VAE_FINAL
    from .diffusion import EMA_UNET_FILE, FINAL_DIR, SNAPSHOT_DIR, TOKENIZER_DIR

    work, weights = Path(work), Path(weights)
    records = finished_records(work)
    final = work / "diffusion" / FINAL_DIR
    unet = build_unet()
    unet.load_state_dict(load_file(str(final / EMA_UNET_FILE)))
    bundle = GeneratorBundle(
        name="mini",
        vae=AutoencoderKL.from_pretrained(work / "autoencoder" / VAE_FINAL),
        unet=unet,
        text_encoder=CLIPTextModel.from_pretrained(final / "text_encoder"),
        tokenizer=AutoTokenizer.from_pretrained(work / "diffusion" / TOKENIZER_DIR),
        scheduler=build_scheduler(),
        resolution=RESOLUTION,
    ).to(dtype=torch.float16)
    # transformers 5 loads a text encoder in the dtype it was saved in, diffusers upcasts the UNet to fp32: an
    # fp16 text encoder would feed fp16 conditioning to an fp32 UNet in diffusers' pipeline. It is small (1.1M
    # parameters), so it ships in fp32 and every loader gets one dtype.
    bundle.text_encoder.to(torch.float32)
    weights.mkdir(parents=True, exist_ok=True)
    tmp = weights / "mini.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_bundle(bundle, tmp)
    (tmp / TRAINING_DIR).mkdir()
    for stage, record in records.items():
        shutil.copy(work / stage / LOG_FILE, tmp / TRAINING_DIR / f"{stage}_log.csv")
        (tmp / TRAINING_DIR / f"{stage}.json").write_text(json.dumps(record, indent=2))
    shutil.copy(work / "split.json", tmp / TRAINING_DIR / "split.json")
    checkpoints = weights / "mini_checkpoints.tmp"
    shutil.rmtree(checkpoints, ignore_errors=True)
    checkpoints.mkdir()
    for name in records["diffusion"]["snapshots"]:
        shutil.copy(work / "diffusion" / SNAPSHOT_DIR / name, checkpoints / name)
    _swap_in(tmp, weights / "mini")
    _swap_in(checkpoints, weights / "mini_checkpoints")
    return weights / "mini"


def pack_work(work: str | os.PathLike, archive: str | os.PathLike) -> Path:
    """One tar of what a fresh machine needs to resume ``work``: training states in half precision without
    optimizer moments (so the archive fits what one device call returns), finished models, logs, snapshots.

    Unpack it into an empty work folder (``tar -xf``); the cached latents are encoded again there.
    """
    import tarfile

    work, archive = Path(work), Path(archive)
    tmp = archive.with_name(archive.name + ".tmp")
    with tarfile.open(tmp, "w") as tar:
        for path in sorted(work.rglob("*")):
            rel = path.relative_to(work)
            if path.is_dir() or rel.name.endswith(".tmp") or rel.name == "latents.pt":
                continue
            if rel.name == "state.pt" and (path.parent / "done.json").exists():
                continue  # a finished stage resumes from its final model
            if rel.name == "state.pt":
                compact = archive.with_name(archive.name + ".state")
                torch.save(compact_state(torch.load(path, map_location="cpu", weights_only=False)), compact)
                tar.add(compact, arcname=str(rel))
                compact.unlink()
            else:
                tar.add(path, arcname=str(rel))
    os.replace(tmp, archive)
    return archive


def compact_state(blob: dict) -> dict:
    """A checkpoint with fp32 tensors as fp16 and no optimizer state (a resume restarts Adam's moments)."""

    def half(value):
        if isinstance(value, torch.Tensor) and value.dtype == torch.float32:
            return value.to(torch.float16)
        if isinstance(value, dict):
            return {k: half(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(half(v) for v in value)
        return value

    stage = {k: half(v) for k, v in blob["stage"].items() if k != "optimizer"}
    return {**blob, "stage": stage}
