"""Stage 2 over a table of embeddings: plan every image, generate shard by shard, skip finished shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import ReproError
from ..inversion.store import EmbeddingTable
from .config import SamplingConfig
from .dataset import SyntheticDataset, SyntheticWriter
from .plan import make_plan
from .sampler import Sampler


def select_checkpoints(tables: dict[int, EmbeddingTable], config: SamplingConfig) -> dict[int, EmbeddingTable]:
    wanted = config.checkpoints or (max(tables),)
    missing = [c for c in wanted if c not in tables]
    if missing:
        raise ReproError(
            f"checkpoints {missing} are not among the embeddings given (steps {sorted(tables)}); "
            "pass their files or choose --checkpoints from those"
        )
    tables = {c: tables[c] for c in wanted}
    if config.limit is not None:
        tables = {c: _head(t, config.limit) for c, t in tables.items()}
    return tables


def _head(table: EmbeddingTable, n: int) -> EmbeddingTable:
    return EmbeddingTable(table.embeddings[:n], table.labels[:n], table.index[:n], table.ids[:n], table.meta)


def sample_dataset(
    bundle,
    tables: dict[int, EmbeddingTable],
    out_dir: str | Path,
    config: SamplingConfig,
    *,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
) -> SyntheticDataset | None:
    """Write the synthetic dataset of ``config`` to ``out_dir``; this process does output shards k with
    k % n == i. Returns the dataset when every shard is present (else None: other shards still running)."""
    i, n = shard
    if not 0 <= i < n:
        raise ReproError(f"shard {i}/{n} is out of range; use i/n with 0 <= i < n")
    tables = select_checkpoints(tables, config)
    sampler = Sampler(bundle, tables, config)
    first = next(iter(tables.values()))
    plan = make_plan(first.labels.numpy(), first.index.numpy(), tuple(tables), config)
    bounds = list(range(0, len(plan), config.shard_size)) + [len(plan)]
    counts = [b - a for a, b in zip(bounds, bounds[1:])]
    meta = {
        "classes": first.classes,
        "resolution": sampler.save_resolution,
        "generation_resolution": sampler.resolution,
        "generator": bundle.name,
        "weights": bundle.fingerprint,
        "dataset": first.meta.get("dataset"),
        "split": first.meta.get("split"),
        "embeddings_config_hash": first.meta["config_hash"],
        "config": config.as_dict(),
        "config_hash": config.hash(
            generator=bundle.name, weights=bundle.fingerprint, embeddings=first.meta["config_hash"]
        ),
    }
    writer = SyntheticWriter(out_dir, meta, counts)
    mine = [k for k in range(len(counts)) if k % n == i and not writer.done(k)]
    ids = np.asarray(first.ids)
    bar = tqdm(total=sum(counts[k] for k in mine), desc=f"sample shard {i}/{n}", disable=not progress, unit="img")
    for k in mine:
        rows = np.arange(bounds[k], bounds[k + 1])
        images = np.concatenate([sampler.generate(plan, part) for part in _batches(rows, config.batch, bar)])
        source = plan.source[rows]
        writer.write(
            k,
            images,
            first.labels.numpy()[source],
            {
                "source_index": first.index.numpy()[source],
                "source_id": ids[source],
                "partner_index": np.where(plan.partner[rows] >= 0, first.index.numpy()[plan.partner[rows]], -1),
                "variant": plan.variant[rows],
                "w": plan.w[rows],
                "lam": plan.lam[rows],
                "alpha": plan.alpha[rows],
                "checkpoint": plan.checkpoint[rows],
                "seed": plan.seed[rows],
            },
        )
    bar.close()
    dataset = SyntheticDataset(out_dir)
    return dataset if dataset.complete else None


def _batches(rows: np.ndarray, size: int, bar):
    for start in range(0, len(rows), size):
        part = rows[start : start + size]
        yield part
        bar.update(len(part))
