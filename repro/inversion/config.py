"""Settings of Diffusion Inversion stage 1, with the paper's values as defaults (README.md lists the authors')."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ..errors import ReproError
from ..provenance import config_hash

INIT_MODES = ("random", "text")
LATENT_MODES = ("sample", "mean")


@dataclass(frozen=True)
class InversionConfig:
    """One conditioning tensor ``[tokens, text_width]`` per image, learned against a frozen generator.

    ``steps`` counts gradient updates of each embedding; ``checkpoints`` (default: every 1000 steps) are
    the steps whose embeddings are saved, the last step always among them. ``tokens=None`` uses the
    generator's whole context (77 for SD, as the paper's text implies); the authors' code learns 5.
    ``init="random"`` draws U(-init_scale, init_scale), what the authors' ``nn.Linear`` table gives
    (1/sqrt(100) = 0.1); ``init="text"`` starts from the text encoding of ``init_prompt`` (``{}`` is
    replaced by the class name). ``latents="sample"`` draws z from the cached VAE posterior at every step,
    the same distribution as the authors' re-encoding; ``reencode_every_step`` runs their code path (the VAE
    encoder at every step). ``batch`` images are trained together for all their steps and share a random
    stream, so it is part of the configuration (resume hash); ``compile``, ``channels_last`` and
    ``state_every`` only change speed and may differ on resume.
    """

    steps: int = 3000
    checkpoints: tuple[int, ...] | None = None
    tokens: int | None = None
    batch: int = 256
    lr: float = 0.03
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    resolution: int | None = None
    init: str = "random"
    init_scale: float = 0.1
    init_prompt: str = ""
    latents: str = "sample"
    reencode_every_step: bool = False
    seed: int = 0
    precision: str = "fp32"
    compile: bool = False
    channels_last: bool = True
    #: Extra state saves between checkpoints (0: only at checkpoints), to lose less work when killed.
    state_every: int = 0
    #: Fields that do not change the learned values beyond rounding; excluded from the resume hash.
    speed_only: tuple[str, ...] = field(default=("compile", "channels_last", "state_every"), repr=False)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1:
            raise ReproError(f"steps ({self.steps}) and batch ({self.batch}) must be positive")
        if not self.lr > 0 or not self.weight_decay >= 0:
            raise ReproError(f"lr ({self.lr}) must be > 0 and weight_decay ({self.weight_decay}) >= 0")
        given = range(1000, self.steps, 1000) if self.checkpoints is None else self.checkpoints
        checkpoints = tuple(sorted({int(c) for c in given} | {self.steps}))
        if checkpoints[0] < 1 or checkpoints[-1] > self.steps:
            raise ReproError(f"checkpoints {list(self.checkpoints)} must lie in 1..{self.steps} (the step count)")
        object.__setattr__(self, "checkpoints", checkpoints)
        if self.init not in INIT_MODES:
            raise ReproError(f"unknown init {self.init!r}; use one of {', '.join(INIT_MODES)}")
        if self.latents not in LATENT_MODES:
            raise ReproError(f"unknown latents mode {self.latents!r}; use one of {', '.join(LATENT_MODES)}")
        if self.precision == "fp16":
            raise ReproError("fp16 inversion would need loss scaling; use --dtype bf16 (or fp32)")

    def resolved(self, bundle) -> InversionConfig:
        """The config with the generator's defaults filled in, checked against the generator."""
        tokens = self.tokens or bundle.max_tokens
        resolution = self.resolution or bundle.resolution
        if not 1 <= tokens <= bundle.max_tokens:
            raise ReproError(
                f"tokens={tokens} does not fit generator {bundle.name!r}: its text context has "
                f"{bundle.max_tokens} tokens; pass --tokens between 1 and {bundle.max_tokens}"
            )
        bundle.latent_size(resolution)  # raises when the resolution does not fit the VAE
        return replace(self, tokens=tokens, resolution=resolution)

    def as_dict(self) -> dict:
        values = asdict(self)
        values.pop("speed_only")
        return values

    def hash(self, **context) -> str:
        """Hash of everything that determines the learned embeddings (plus e.g. generator and dataset)."""
        values = {k: v for k, v in self.as_dict().items() if k not in self.speed_only}
        return config_hash({**values, **context})
