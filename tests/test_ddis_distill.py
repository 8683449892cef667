"""Data-free distillation wiring: synthetic shards (at another resolution) -> student scored on real images."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from repro.classifiers import build_model
from repro.ddis.distill import distill
from repro.errors import ReproError
from repro.provenance import phase_seconds
from repro.sampling.datafree import write_dataset

CLASSES = ["cat", "dog", "airplane"]


def test_student_learns_from_resized_synthetic_images_and_is_scored_on_the_test_set(tmp_path):
    torch.manual_seed(0)
    teacher = build_model("cifar_resnet20", len(CLASSES), 16).eval()
    synthetic = write_dataset(
        lambda labels, seed: torch.rand(len(labels), 3, 32, 32),
        CLASSES,
        per_class=4,
        batch_size=6,
        out=tmp_path / "syn",
        resolution=32,
        config={"method": "test"},
        progress=False,
    )
    rng = np.random.default_rng(0)
    test = SimpleNamespace(
        images=rng.integers(0, 256, (9, 16, 16, 3), dtype=np.uint8), labels=np.arange(9) % 3, classes=CLASSES
    )
    before = phase_seconds().get("training", 0.0)
    result = distill(
        teacher,
        synthetic.path,
        test,
        student_arch="cifar_resnet20",
        steps=3,
        batch_size=4,
        device="cpu",
        progress=False,
    )
    assert result["synthetic_images"] == 12 and result["train_steps"] == 3
    assert phase_seconds()["training"] > before  # ddis_kd's job says where its time went, as the other notebooks
    assert 0 <= result["student_accuracy"] <= 100 and 0 <= result["teacher_accuracy"] <= 100
    with pytest.raises(ReproError, match="differ from the test set"):
        distill(
            teacher,
            synthetic.path,
            SimpleNamespace(**{**vars(test), "classes": ["a", "b", "c"]}),
            student_arch="cifar_resnet20",
            steps=1,
            batch_size=4,
            device="cpu",
            progress=False,
        )
