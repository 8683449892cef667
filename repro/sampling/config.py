"""Settings of Diffusion Inversion stage 2, with the paper's defaults (appendix B.1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import ReproError
from ..provenance import config_hash

UNCOND_MODES = ("mean", "empty")


@dataclass(frozen=True)
class SamplingConfig:
    """How variants are drawn around learned embeddings.

    Each sample draws its guidance ``w``, noise strength ``lambda``, interpolation strength ``alpha`` and
    checkpoint uniformly from the given lists. Guidance follows the paper's convention,
    eps_hat = (1 + w) eps(z, c) - w eps(z, u); diffusers' ``guidance_scale`` is 1 + w (the authors' code passes
    guidance_scale=2, i.e. w = 1). ``checkpoints=None`` uses the last checkpoint (the paper's 3K default).
    ``resolution=None`` generates at the resolution the embeddings were learned at (the only one they work
    at, section 5.2); ``save_resolution=None`` writes images at the dataset's own resolution.
    """

    per_image: int = 1
    guidance: tuple[float, ...] = (2.0,)
    noise: tuple[float, ...] = (0.1,)
    interpolate: tuple[float, ...] = (0.1,)
    checkpoints: tuple[int, ...] | None = None
    scheduler: str = "ddim"
    steps: int = 100
    eta: float = 0.0
    uncond: str = "mean"
    seed: int = 0
    limit: int | None = None
    resolution: int | None = None
    save_resolution: int | None = None
    shard_size: int = 5000
    batch: int = 256
    decode_batch: int = 64
    precision: str = "fp32"
    compile: bool = False
    channels_last: bool = True

    #: Fields that change speed only (batching is per-sample deterministic); excluded from the hash.
    SPEED_ONLY = ("batch", "decode_batch", "compile", "channels_last")

    def __post_init__(self) -> None:
        if self.per_image < 1 or self.steps < 1 or self.shard_size < 1 or self.batch < 1:
            raise ReproError("per_image, steps, shard_size and batch must be positive")
        if self.uncond not in UNCOND_MODES:
            raise ReproError(f"unknown unconditional embedding {self.uncond!r}; use one of {', '.join(UNCOND_MODES)}")
        for name in ("guidance", "noise", "interpolate"):
            values = getattr(self, name)
            if not values:
                raise ReproError(f"--{name} needs at least one value")
            object.__setattr__(self, name, tuple(float(v) for v in values))
        if any(not 0.0 <= a <= 1.0 for a in self.interpolate):
            raise ReproError(f"interpolation strengths {list(self.interpolate)} must lie in [0, 1]")
        if any(v < 0 for v in self.noise):
            raise ReproError(f"noise strengths {list(self.noise)} must be non-negative")
        if self.checkpoints is not None:
            object.__setattr__(self, "checkpoints", tuple(int(c) for c in self.checkpoints))

    def as_dict(self) -> dict:
        return asdict(self)

    def hash(self, **context) -> str:
        values = {k: v for k, v in self.as_dict().items() if k not in self.SPEED_ONLY}
        return config_hash({**values, **context})
