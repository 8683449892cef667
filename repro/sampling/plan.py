"""What each synthetic image will be: its source, partner, guidance, noise, interpolation, checkpoint, seed.

Every choice of a sample comes from its own random stream, seeded by (seed, source image's dataset index,
variant), so a sample is the same whatever the batching, sharding, or the other samples around it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from ..errors import ReproError
from .config import SamplingConfig


def sample_seed(seed: int, source_index: int, variant: int) -> int:
    """A 63-bit seed for the sample ``variant`` of the image at ``source_index``."""
    state = np.random.SeedSequence([seed, source_index, variant]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


@dataclass
class SamplePlan:
    """Parallel arrays, one entry per synthetic image, in output order (source-major, then variant)."""

    source: np.ndarray  # row of the embedding table
    partner: np.ndarray  # row of the interpolation partner (same class); -1 when alpha == 0
    variant: np.ndarray
    w: np.ndarray
    lam: np.ndarray
    alpha: np.ndarray
    checkpoint: np.ndarray
    seed: np.ndarray

    def __len__(self) -> int:
        return len(self.source)


def make_plan(
    labels: np.ndarray, index: np.ndarray, checkpoints: tuple[int, ...], config: SamplingConfig
) -> SamplePlan:
    """Plan ``config.per_image`` variants for every row of an embedding table (labels, dataset indices)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ReproError("the embeddings table is empty; nothing to sample")
    members = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    position = {int(r): i for rows in members.values() for i, r in enumerate(rows)}
    n = len(labels) * config.per_image
    out = {k: np.empty(n, dtype=np.int64) for k in ("source", "partner", "variant", "checkpoint", "seed")}
    out.update({k: np.empty(n, dtype=np.float32) for k in ("w", "lam", "alpha")})
    k = 0
    for row in range(len(labels)):
        same_class = members[labels[row]]
        for variant in range(config.per_image):
            seed = sample_seed(config.seed, int(index[row]), variant)
            rnd = random.Random(seed)
            w, lam, alpha = (rnd.choice(config.guidance), rnd.choice(config.noise), rnd.choice(config.interpolate))
            checkpoint = rnd.choice(checkpoints)
            if len(same_class) > 1:  # a uniform other member of the class
                j = rnd.randrange(len(same_class) - 1)
                partner = int(same_class[j + (j >= position[row])])
            else:
                partner = row
            out["source"][k], out["variant"][k], out["seed"][k] = row, variant, seed
            out["w"][k], out["lam"][k], out["alpha"][k], out["checkpoint"][k] = w, lam, alpha, checkpoint
            out["partner"][k] = partner if alpha > 0 else -1
            k += 1
    return SamplePlan(**out)
