"""Sampling schedulers by name, built from the generator's own noise schedule."""

from __future__ import annotations

from ..errors import ReproError

#: name -> (diffusers class, settings that define the sampler beyond the noise schedule)
SCHEDULERS = {
    "ddim": ("DDIMScheduler", {}),
    # Stable Diffusion's default sampler, which the authors' code uses; SD ships it with PRK steps skipped.
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "unipc": ("UniPCMultistepScheduler", {}),
}


def build_scheduler(name: str, bundle):
    """A fresh scheduler (they keep per-run state) sharing the bundle's betas, spacing and prediction type."""
    import diffusers

    if name not in SCHEDULERS:
        raise ReproError(f"unknown scheduler {name!r}; use one of {', '.join(SCHEDULERS)}")
    class_name, settings = SCHEDULERS[name]
    config = {k: v for k, v in bundle.scheduler.config.items() if not k.startswith("_")}
    return getattr(diffusers, class_name).from_config({**config, **settings})
