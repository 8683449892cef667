"""Learned embeddings on disk: one safetensors file per checkpoint (and shard), self-describing.

Tensors: ``embeddings`` fp32 ``[N, tokens, width]``, ``labels`` int64 ``[N]``, ``index`` int64 ``[N]`` (the
image's position in its dataset split). The header metadata holds ``ids`` (JSON list) and ``meta`` (JSON:
step, config, config hash, generator, dataset, split, classes, resolution, source resolution, shard).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import ReproError
from ..files import check_finite, read_damageable

FORMAT = "repro-embeddings-v1"


@dataclass
class EmbeddingTable:
    embeddings: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    ids: list[str]
    meta: dict

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    @property
    def step(self) -> int:
        return int(self.meta["step"])

    @property
    def tokens(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def text_width(self) -> int:
        return int(self.embeddings.shape[2])

    @property
    def resolution(self) -> int:
        return int(self.meta["resolution"])

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])


def checkpoint_filename(step: int, shard: tuple[int, int]) -> str:
    i, n = shard
    return f"step{step:05d}.safetensors" if n == 1 else f"step{step:05d}.shard{i:03d}of{n:03d}.safetensors"


def save_table(table: EmbeddingTable, path: str | Path) -> Path:
    """Write atomically (temporary name, then rename), so a killed job never leaves a truncated file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tensors = {
        "embeddings": table.embeddings.detach().float().cpu().contiguous(),
        "labels": table.labels.to(torch.int64).cpu().contiguous(),
        "index": table.index.to(torch.int64).cpu().contiguous(),
    }
    metadata = {"format": FORMAT, "ids": json.dumps(table.ids), "meta": json.dumps(table.meta, default=str)}
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def load_table(path: str | Path) -> EmbeddingTable:
    """One embeddings file; a damaged file, another format or a non-finite embedding is an error naming it."""
    path = Path(path)

    def read(p: Path) -> EmbeddingTable:
        with safe_open(str(p), framework="pt") as f:
            header = f.metadata() or {}
            if header.get("format") != FORMAT:
                raise ReproError(
                    f"{p} is not an embeddings file written by `repro invert` "
                    f"(format {header.get('format')!r}); pass the files of an inversion output folder"
                )
            tensors = {k: f.get_tensor(k) for k in ("embeddings", "labels", "index")}
        return EmbeddingTable(ids=json.loads(header["ids"]), meta=json.loads(header["meta"]), **tensors)

    table = read_damageable(
        path,
        read,
        "embeddings file",
        "it was cut short or altered after `repro invert` wrote it; invert again into a new --out",
    )
    check_finite(
        table.embeddings,
        f"embeddings file {path}",
        "a NaN would make every image sampled with the "
        "mean embedding black; invert those images again into a new --out",
    )
    return table


def _files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(p.glob("step*.safetensors")))
        elif p.is_file():
            files.append(p)
        else:
            raise ReproError(f"embeddings path {p} does not exist; pass files or the output folder of `repro invert`")
    if not files:
        raise ReproError(f"no embeddings files in {[str(p) for p in paths]}; run `repro invert` first")
    return files


def stored_ids(paths: Iterable[str | Path]) -> set[str]:
    """The ids of the images whose embeddings are under ``paths``, read from the files' headers alone (every
    checkpoint covers the same images: the first one's shards give them)."""
    by_step: dict[int, set[str]] = {}
    for file in _files(paths):
        with safe_open(str(file), framework="pt") as f:
            header = f.metadata() or {}
        if header.get("format") != FORMAT:
            raise ReproError(f"{file} is not an embeddings file written by `repro invert`")
        by_step.setdefault(int(json.loads(header["meta"])["step"]), set()).update(json.loads(header["ids"]))
    return by_step[min(by_step)]


def load_checkpoints(paths: Iterable[str | Path]) -> dict[int, EmbeddingTable]:
    """All tables under ``paths`` (files or folders), shards joined, one table per checkpoint step.

    Every checkpoint must cover the same images with all its shards present and come from one run
    configuration; anything else is an error rather than a silently smaller dataset.
    """
    by_step: dict[int, list[EmbeddingTable]] = {}
    for file in _files(paths):
        table = load_table(file)
        by_step.setdefault(table.step, []).append(table)
    hashes = {t.meta["config_hash"] for tables in by_step.values() for t in tables}
    if len(hashes) > 1:
        raise ReproError(
            f"embeddings come from {len(hashes)} different inversion runs ({sorted(hashes)}); pass the files of one run"
        )
    joined: dict[int, EmbeddingTable] = {}
    for step, tables in sorted(by_step.items()):
        shards = sorted(tables, key=lambda t: tuple(t.meta["shard"]))
        count = shards[0].meta["shard"][1]
        if [t.meta["shard"][0] for t in shards] != list(range(count)):
            have = [t.meta["shard"][0] for t in shards]
            raise ReproError(
                f"checkpoint step {step} has shards {have} of {count}; finish the missing "
                "`repro invert --shard i/n` jobs or pass all shard files"
            )
        joined[step] = EmbeddingTable(
            embeddings=torch.cat([t.embeddings for t in shards]),
            labels=torch.cat([t.labels for t in shards]),
            index=torch.cat([t.index for t in shards]),
            ids=[i for t in shards for i in t.ids],
            meta={**shards[0].meta, "shard": [0, 1]},
        )
    indices = {step: t.index.tolist() for step, t in joined.items()}
    if len({tuple(v) for v in indices.values()}) > 1:
        raise ReproError(f"checkpoints {sorted(joined)} cover different images; pass complete checkpoints")
    return joined
