"""Stage 1 over a dataset: groups of images, shards, checkpoints and resuming.

Images are split into fixed groups of ``config.batch`` (group g = images [g*batch, (g+1)*batch)); each group
has its own random stream and is trained for all its steps, then written to ``OUT/.work/``. A shard ``i/n``
takes a contiguous range of groups, so any sharding gives the same embeddings as one job. While a group
trains, its whole state (embeddings, AdamW moments, random stream, checkpoint snapshots) is saved at every
checkpoint; a rerun of the same command resumes there and continues bit for bit. When a shard's groups are
done, its checkpoint files ``OUT/step01000[.shardIofN].safetensors`` are assembled and the work files removed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..errors import ReproError
from ..files import read_damageable, read_json, write_json_atomic
from ..generators.pixels import to_model_pixels
from ..provenance import changed_settings, config_hash
from .config import InversionConfig
from .fastpath import FastPath
from .store import EmbeddingTable, checkpoint_filename, save_table
from .trainer import GroupTrainer, group_generator

#: How often (in steps) non-finite losses are looked for; checking costs a device sync.
NAN_CHECK_EVERY = 50
#: the record of an output folder's run: its configuration, generator, data (a resume must match it)
RUN_RECORD = "run.json"


def shard_groups(num_images: int, batch: int, shard: tuple[int, int]) -> range:
    i, n = shard
    if not 0 <= i < n:
        raise ReproError(f"shard {i}/{n} is out of range; use i/n with 0 <= i < n")
    groups = math.ceil(num_images / batch)
    return range(i * groups // n, (i + 1) * groups // n)


def _holds_work(out: Path) -> bool:
    """Whether ``out`` holds anything a rerun would continue from (finished checkpoints, groups, group states)."""
    return any(out.glob("step*.safetensors")) or any(
        p.suffix in (".safetensors", ".pt") for p in (out / ".work").glob("group*")
    )


def recorded_config(out: str | Path) -> dict:
    """The configuration (``InversionConfig`` fields) that the run in inversion folder ``out`` ran with."""
    path = Path(out) / RUN_RECORD
    return read_json(path, "the inversion record", f"rerun the inversion into {out}").get("config", {})


def _check_or_write_run(out: Path, run: dict, speed_only: tuple[str, ...]) -> None:
    """Refuse to mix two configurations in one output folder (a resume must continue the same run); a folder
    whose run failed before saving anything is simply taken over."""
    path = out / RUN_RECORD
    run = json.loads(json.dumps(run, default=str))  # as stored: tuples become lists, so equal values compare equal
    if path.exists() and _holds_work(out):
        old = read_json(path, "the inversion record", f"delete {out} (or choose a new --out) to start over")
        if old.get("config_hash") != run["config_hash"]:

            def decisive(record: dict) -> dict:
                config = {k: v for k, v in record.get("config", {}).items() if k not in speed_only}
                keys = ("generator", "weights", "dataset", "split", "num_images", "ids_hash")
                return {"config": config, **{k: record.get(k) for k in keys}}

            changed = changed_settings(decisive(old), decisive(run))
            raise ReproError(
                f"{out} holds part of an inversion run with other settings ({changed}); rerun with its "
                "settings to resume it, or choose a new --out"
            )
        return
    write_json_atomic(run, path)


def invert(
    bundle,
    images: np.ndarray,
    labels: Sequence[int],
    ids: Sequence[str],
    classes: Sequence[str],
    out_dir: str | Path,
    config: InversionConfig,
    *,
    dataset: str = "",
    split: str = "",
    shard: tuple[int, int] = (0, 1),
    stop_after_steps: int | None = None,
    progress: bool = True,
) -> list[Path] | None:
    """Learn one embedding per image of ``images`` (uint8 ``[N, H, W, 3]``) for this shard.

    Returns the checkpoint files of the shard, or None when ``stop_after_steps`` (a time slice for cluster
    jobs; counts UNet steps of this call) ran out first; rerunning the same call then resumes.
    """
    config = config.resolved(bundle)
    fast = FastPath(config.precision, config.channels_last, config.compile)
    fast.check_model_dtype(bundle.dtype)
    labels = np.asarray(labels, dtype=np.int64)
    ids = list(ids)
    if not len(images) == len(labels) == len(ids):
        raise ReproError(f"{len(images)} images, {len(labels)} labels and {len(ids)} ids do not match")
    if len(images) == 0:
        raise ReproError("no images to invert; check the dataset, split and --limit")
    out = Path(out_dir)
    (out / ".work").mkdir(parents=True, exist_ok=True)
    context = dict(
        generator=bundle.name,
        weights=bundle.fingerprint,
        dataset=dataset,
        split=split,
        num_images=len(ids),
        ids_hash=config_hash({"ids": ids}),
    )
    run_hash = config.hash(**context)
    _check_or_write_run(
        out,
        {
            "config": config.as_dict(),
            "config_hash": run_hash,
            **context,
            "classes": list(classes),
            "resolution": config.resolution,
            "source_resolution": int(images.shape[1]),
            "tokens": config.tokens,
            "text_width": bundle.text_width,
            "prediction_type": bundle.prediction_type,
        },
        config.speed_only,
    )
    meta = {
        "config": config.as_dict(),
        "config_hash": run_hash,
        "generator": bundle.name,
        "dataset": dataset,
        "split": split,
        "classes": list(classes),
        "resolution": config.resolution,
        "source_resolution": int(images.shape[1]),
        "shard": list(shard),
    }
    outputs = [out / checkpoint_filename(step, shard) for step in config.checkpoints]
    groups = shard_groups(len(ids), config.batch, shard)
    if all(p.exists() for p in outputs):
        return outputs

    group_file = lambda g: out / ".work" / f"group{g:05d}.safetensors"  # noqa: E731
    todo = [g for g in groups if not group_file(g).exists()]
    unet_fn = fast.unet_fn(bundle.unet) if todo else None
    budget = math.inf if stop_after_steps is None else stop_after_steps
    bar = tqdm(
        total=len(groups) * config.steps,
        initial=(len(groups) - len(todo)) * config.steps,
        desc=f"invert {dataset}/{split} shard {shard[0]}/{shard[1]}",
        disable=not progress,
        unit="step",
    )
    for g in todo:
        rows = slice(g * config.batch, min(len(ids), (g + 1) * config.batch))
        budget -= _train_group(
            bundle,
            config,
            fast,
            unet_fn,
            images[rows],
            labels[rows],
            ids[rows],
            classes,
            group_start=rows.start,
            run_hash=run_hash,
            work=out / ".work",
            name=f"group{g:05d}",
            budget=budget,
            bar=bar,
        )
        if not group_file(g).exists():
            bar.close()
            return None
    bar.close()

    snapshots = [
        read_damageable(
            group_file(g), lambda p: load_file(str(p)), "finished group", "delete it to train that group again"
        )
        for g in groups
    ]
    rows = slice(groups.start * config.batch, min(len(ids), groups.stop * config.batch))
    for step, path in zip(config.checkpoints, outputs):
        embeddings = [s[f"step{step}"] for s in snapshots]
        table = EmbeddingTable(
            embeddings=torch.cat(embeddings) if embeddings else torch.zeros(0, config.tokens, bundle.text_width),
            labels=torch.as_tensor(labels[rows]),
            index=torch.arange(rows.start, max(rows.start, rows.stop), dtype=torch.int64),
            ids=ids[rows],
            meta={**meta, "step": step},
        )
        save_table(table, path)
    for g in groups:
        group_file(g).unlink()
    return outputs


def _train_group(
    bundle,
    config: InversionConfig,
    fast: FastPath,
    unet_fn,
    images,
    labels,
    ids,
    classes,
    *,
    group_start: int,
    run_hash: str,
    work: Path,
    name: str,
    budget: float,
    bar,
) -> int:
    """Train one group to the end (then write its snapshots) or until ``budget`` steps are spent (then save
    its state); returns the number of steps taken."""
    device = bundle.device
    pixels = to_model_pixels(images, config.resolution, device)
    prompts = [config.init_prompt.replace("{}", classes[int(label)]) for label in labels]
    trainer = GroupTrainer(
        bundle, config, pixels, prompts, group_generator(config.seed, group_start, device), fast, unet_fn
    )
    state_path = work / f"{name}.state.pt"
    snapshots: dict[int, torch.Tensor] = {}
    if state_path.exists():
        state = read_damageable(
            state_path,
            lambda p: torch.load(p, map_location="cpu", weights_only=True),
            "resume state",
            "delete it to train that group from its start",
        )
        if state["config_hash"] != run_hash:
            raise ReproError(f"{state_path} belongs to another configuration; delete it or use a new --out")
        trainer.load_state_dict(state["trainer"])
        snapshots = dict(state["snapshots"])
        bar.update(trainer.step_count)

    def save_state() -> None:
        tmp = state_path.with_name(state_path.name + ".tmp")
        torch.save({"config_hash": run_hash, "trainer": trainer.state_dict(), "snapshots": snapshots}, tmp)
        os.replace(tmp, state_path)

    bad = torch.zeros(len(ids), dtype=torch.bool, device=device)
    taken = 0
    while trainer.step_count < config.steps:
        if taken >= budget:
            save_state()
            return taken
        losses = trainer.step()
        taken += 1
        bar.update(1)
        bad |= ~torch.isfinite(losses)
        step = trainer.step_count
        at_checkpoint = step in config.checkpoints
        if at_checkpoint or step % NAN_CHECK_EVERY == 0:
            if bool(bad.any()):
                culprits = [ids[i] for i in bad.nonzero().flatten().tolist()]
                raise ReproError(
                    f"the inversion loss became NaN or infinite by step {step} for {len(culprits)} image(s), e.g. "
                    f"{culprits[:3]}: the generator may hold non-finite weights, or lr={config.lr} is too high "
                    f"at precision {config.precision}; try --dtype fp32 or a lower --inversion-lr (nothing was "
                    "saved from the failing steps)"
                )
            bar.set_postfix(loss=float(losses.mean()))
        if at_checkpoint:
            snapshots[step] = trainer.embeddings.detach().cpu().clone()
        if step < config.steps and (at_checkpoint or (config.state_every and step % config.state_every == 0)):
            save_state()
    tmp = work / f"{name}.safetensors.tmp"
    save_file({f"step{s}": t.contiguous() for s, t in snapshots.items()}, str(tmp))
    os.replace(tmp, work / f"{name}.safetensors")
    state_path.unlink(missing_ok=True)
    return taken
