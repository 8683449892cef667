"""Diffusion Inversion stage 2: sample image variants around learned embeddings into a synthetic dataset.

See ../inversion/README.md for the method, the defaults, and where the paper and the authors' code differ.
"""

from .conditioning import guided_prediction, perturbed_condition
from .config import SamplingConfig
from .dataset import SyntheticArrays, SyntheticDataset, SyntheticWriter
from .plan import SamplePlan, make_plan, sample_seed
from .roundtrip import vae_roundtrip
from .run import sample_dataset
from .sampler import Sampler, check_fit
from .schedulers import SCHEDULERS, build_scheduler

__all__ = [
    "SCHEDULERS",
    "SamplePlan",
    "Sampler",
    "SamplingConfig",
    "SyntheticArrays",
    "SyntheticDataset",
    "SyntheticWriter",
    "build_scheduler",
    "check_fit",
    "guided_prediction",
    "make_plan",
    "perturbed_condition",
    "sample_dataset",
    "sample_seed",
    "vae_roundtrip",
]
