"""DDIS: data-free image synthesis with a text-to-image model, a teacher's BatchNorm statistics (Domain
Alignment Guidance) and learned class tokens (Class Alignment Tokens); data-free distillation on the images.

- ``dag``: Domain Alignment Guidance, one latent correction per sampling step
- ``tokens`` / ``cat``: class tokens as data (install, save, load) and their training
- ``sampler``: DDIM + classifier-free guidance + DAG + CAT, with the ablation modes
- ``distill``: ResNet-34 -> ResNet-18 (any pair) distillation on synthetic images, scored on real test images

What DDIS shares with the DeepInversion baseline lives in the layers below both: the teacher and its BatchNorm
statistics loss in ``repro.classifiers`` (``teacher``, ``batchnorm``), the class-balanced synthetic-set writer
in ``repro.sampling.datafree``. The teacher's loader is re-exported here, where the DDIS notebooks look for it.
"""

from ..classifiers.teacher import load_teacher, teacher_checkpoint
from .cat import CATConfig, cached_class_tokens, learn_class_tokens
from .dag import DAGConfig, DomainAlignmentGuidance
from .distill import distill
from .prompts import class_prompt, token_string
from .sampler import MODES, SAMPLE_BATCH, DDISSampler, SamplerConfig, sample_dataset
from .tokens import ClassTokens, TokenSplice

__all__ = [
    "MODES",
    "SAMPLE_BATCH",
    "CATConfig",
    "ClassTokens",
    "DAGConfig",
    "DDISSampler",
    "DomainAlignmentGuidance",
    "SamplerConfig",
    "TokenSplice",
    "cached_class_tokens",
    "class_prompt",
    "distill",
    "learn_class_tokens",
    "load_teacher",
    "sample_dataset",
    "teacher_checkpoint",
    "token_string",
]
