"""Data-free knowledge distillation: a student learns the teacher's outputs on synthetic images only.

DDIS's downstream test: a ResNet-34 teacher distilled into a ResNet-18 student on DDIS (or DeepInversion)
images, the student then scored on the real test set. The training loop, the recipe and the distillation
objective are the classifier layer's (``repro.classifiers``); this module only wires a synthetic dataset, a
teacher and a student together. Synthetic images made at another resolution than the teacher's (the 64 px
mini generator for the 32 px CIFAR-10 ResNet-56) are resized to it first (bicubic, ``repro.data.resize``).
"""

from __future__ import annotations

import time
from pathlib import Path

from torch import nn

from ..errors import ReproError
from ..provenance import phase
from ..sampling.datafree import read_dataset


@phase("training")  # as the other notebooks' trainings (repro.experiments.classify)
def distill(
    teacher: nn.Module,
    synthetic: str | Path,
    test_set,
    student_arch: str = "resnet18",
    steps: int = 2000,
    batch_size: int = 128,
    temperature: float = 4.0,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Train a ``student_arch`` on the synthetic dataset ``synthetic`` with the teacher's softened outputs only
    (Hinton's KD term at ``temperature``; no labels: the synthetic labels are intentions, not truth).

    ``test_set``: the real test images (``images`` uint8 NHWC, ``labels``, ``classes``), e.g.
    ``repro.data.load_split(dataset, "test")``. Returns the student's and the teacher's test accuracy (%).
    """
    from ..classifiers import Pool, Recipe, TrainingData, build_model, distil, evaluate

    images, labels, classes = read_dataset(synthetic)
    if list(classes) != list(test_set.classes):
        raise ReproError(
            f"the synthetic classes {classes} differ from the test set's {list(test_set.classes)}; "
            "synthesise the classes of the teacher's dataset, in its order"
        )
    resolution = int(getattr(teacher, "resolution", test_set.images.shape[1]))
    if images.shape[1] != resolution:
        from ..data import resize

        images = resize(images, resolution)
    student = build_model(
        student_arch, len(classes), resolution, mean=teacher.mean.flatten().tolist(), std=teacher.std.flatten().tolist()
    )
    data = TrainingData(synthetic=Pool(images, labels, list(classes), name=Path(synthetic).name))
    start = time.perf_counter()
    report = distil(
        teacher,
        student,
        data,
        Recipe.sgd(steps, batch_size=batch_size),
        temperature=temperature,
        device=device,
        seed=seed,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    return {
        "student_arch": student_arch,
        "student_accuracy": evaluate(student, test_set.images, test_set.labels),
        "teacher_accuracy": evaluate(teacher, test_set.images, test_set.labels),
        "synthetic_images": int(len(labels)),
        "train_steps": report.steps,
        "train_seconds": seconds,
    }
