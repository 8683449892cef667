"""DDIS: data-free image synthesis with a text-to-image model, a teacher's BatchNorm statistics (Domain
Alignment Guidance) and learned class tokens (Class Alignment Tokens); data-free distillation on the images.

- ``batchnorm``: L_BN, the BatchNorm statistics loss (shared with the DeepInversion baseline)
- ``dag``: Domain Alignment Guidance, one latent correction per sampling step
- ``tokens`` / ``cat``: class tokens as data (install, save, load) and their training
- ``sampler``: DDIM + classifier-free guidance + DAG + CAT, with the ablation modes
- ``synthesis``: class-balanced synthetic datasets in the suite's shard format
- ``distill``: ResNet-34 -> ResNet-18 (any pair) distillation on synthetic images, scored on real test images
"""

from .batchnorm import BatchNormAlignment
from .cat import CATConfig, cached_class_tokens, learn_class_tokens
from .dag import DAGConfig, DomainAlignmentGuidance
from .distill import distill
from .prompts import class_prompt, token_string
from .sampler import MODES, SAMPLE_BATCH, DDISSampler, SamplerConfig, sample_dataset
from .synthesis import read_dataset, write_dataset
from .teacher import load_teacher, prepare_teacher, teacher_checkpoint, teacher_view
from .tokens import ClassTokens, TokenSplice

__all__ = [
    "MODES", "SAMPLE_BATCH", "BatchNormAlignment", "CATConfig", "ClassTokens", "DAGConfig", "DDISSampler",
    "DomainAlignmentGuidance", "SamplerConfig", "TokenSplice", "cached_class_tokens", "class_prompt", "distill",
    "learn_class_tokens", "load_teacher", "prepare_teacher", "read_dataset", "sample_dataset", "teacher_checkpoint",
    "teacher_view", "token_string", "write_dataset",
]
