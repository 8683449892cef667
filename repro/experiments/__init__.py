"""What every experiment notebook shares: the run context (recording cells and claims, saving figures), the
shared assets of a scale, the protocol's image sets, and classifier training over seeds (a grid of trainings
together on one GPU).

A notebook stays thin: it reads its parameters, asks these helpers for data and assets, loops over the grid
of its artifact, records every measured cell and decides the paper's claims from the recorded numbers.
"""

from .assets import Assets, disagreements, per_dataset
from .classify import TrainingGrid, recipe_for, train_and_test, train_and_test_many
from .protocol import (
    SharedSynthetic,
    Synthetic,
    real_subset,
    shared_sets,
    test_set,
    training_set,
    training_split,
    validation_split,
    variants_of,
)
from .run import ExperimentRun, resolve_device

__all__ = [
    "Assets",
    "ExperimentRun",
    "SharedSynthetic",
    "Synthetic",
    "TrainingGrid",
    "disagreements",
    "per_dataset",
    "real_subset",
    "recipe_for",
    "resolve_device",
    "shared_sets",
    "test_set",
    "train_and_test",
    "train_and_test_many",
    "training_set",
    "training_split",
    "validation_split",
    "variants_of",
]
