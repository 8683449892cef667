"""Baselines: LECF, KNN retrieval, DeepInversion (and GAN rows where weights exist)."""
