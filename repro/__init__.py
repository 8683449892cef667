"""Replication suite for Diffusion Inversion and DDIS.

Layers, each a subpackage with one job: ``data``, ``generators``, ``inversion``, ``sampling``, ``ddis``,
``baselines``, ``classifiers``, ``metrics``, ``pretrain``, ``results`` and ``report``.
"""

__version__ = "0.1.0"
