"""Fingerprints change with the weights and nothing else."""

from __future__ import annotations

import pytest

from repro.errors import ReproError
from repro.fingerprint import file_hash, folder_fingerprint


def test_a_folder_fingerprint_follows_its_parts_weights_only(tmp_path):
    model = tmp_path / "mini"
    (model / "unet").mkdir(parents=True)
    (model / "training").mkdir()
    (model / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights v1")
    (model / "unet" / "config.json").write_text("{}")
    first = folder_fingerprint(model)
    (model / "README.md").write_text("a new card")
    (model / "metrics.json").write_text("{}")
    (model / "training" / "diffusion.json").write_text("{}")
    assert folder_fingerprint(model) == first  # the card and the training records are not the weights
    (model / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights v2")
    second = folder_fingerprint(model)
    assert second != first
    extra = tmp_path / "unet_010.safetensors"
    extra.write_bytes(b"early")
    assert folder_fingerprint(model, [extra]) not in (first, second)
    assert file_hash(extra) == file_hash(extra) and len(file_hash(extra)) == 16


def test_a_hub_snapshot_is_named_by_its_commit(tmp_path):
    a = tmp_path / "models--x" / "snapshots" / "abc123" / "unet"
    b = tmp_path / "other" / "snapshots" / "abc123"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    assert folder_fingerprint(a.parent) == folder_fingerprint(b) != folder_fingerprint(tmp_path / "snapshots" / "d")


def test_a_fingerprint_of_some_parts_follows_those_parts_only(tmp_path):
    model = tmp_path / "mini"
    for part in ("unet", "vae"):
        (model / part).mkdir(parents=True)
        (model / part / "diffusion_pytorch_model.safetensors").write_bytes(f"{part} v1".encode())
    vae = folder_fingerprint(model, parts=("vae",))
    assert vae != folder_fingerprint(model)
    (model / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"unet v2")
    assert folder_fingerprint(model, parts=("vae",)) == vae
    (model / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"vae v2")
    assert folder_fingerprint(model, parts=("vae",)) != vae


def test_a_folder_without_weights_is_refused_not_hashed_as_nothing(tmp_path):
    model = tmp_path / "mini"
    (model / "vae").mkdir(parents=True)
    (model / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights")
    # the part folder itself holds no part subfolders: its hash would be that of nothing
    with pytest.raises(ReproError, match="no model weights under"):
        folder_fingerprint(model / "vae")
    with pytest.raises(ReproError, match="no model weights under"):
        folder_fingerprint(model, parts=("unet",))
