"""What every experiment notebook shares: the run context, recording cells and claims, saving figures."""

from .run import ExperimentRun, resolve_device

__all__ = ["ExperimentRun", "resolve_device"]
