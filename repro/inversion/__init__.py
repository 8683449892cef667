"""Diffusion Inversion stage 1: learn one conditioning tensor per image for a frozen generator.

See README.md in this folder for the method, the defaults, and where the paper and the authors' code differ.
"""

from .config import InversionConfig
from .fastpath import FastPath
from .run import invert, recorded_config
from .store import EmbeddingTable, load_checkpoints, load_table, save_table
from .trainer import GroupTrainer

__all__ = [
    "EmbeddingTable",
    "FastPath",
    "GroupTrainer",
    "InversionConfig",
    "invert",
    "load_checkpoints",
    "load_table",
    "recorded_config",
    "save_table",
]
