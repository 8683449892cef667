"""One classifier per seed on real, synthetic or mixed data, scored on real test sets and recorded.

The recipe is the paper's (appendix B.1): SGD for natural images, AdamW for MedMNIST-like data
(``repro.classifiers.Recipe``); the same budget in steps for every training set of a comparison.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..classifiers import Recipe, TrainingData, build_model, evaluate, train_classifier
from ..provenance import timed

#: datasets the paper trains with AdamW (appendix B.1)
ADAMW_DATASETS = ("pathmnist", "dermamnist", "bloodmnist")


def recipe_for(dataset: str, steps: int, batch_size: int) -> Recipe:
    """The paper's recipe for ``dataset`` at a budget of ``steps``."""
    make = Recipe.adamw if dataset in ADAMW_DATASETS else Recipe.sgd
    return make(int(steps), batch_size=int(batch_size))


def fitted_batch(data: TrainingData, batch_size: int) -> int:
    """The batch, lowered to a single small source's size (a 1-shot set of 7 images cannot fill 128)."""
    if len(data.sources) == 1:
        return max(1, min(int(batch_size), len(data.sources[0].labels)))
    return int(batch_size)


def validation_table(table: str) -> str:
    """Where the validation-split accuracies of ``table``'s classifiers are recorded (best-of-K choices)."""
    return f"{table}, validation split"


def train_and_test(
    run,
    *,
    table: str,
    row,
    data: TrainingData,
    tests: Mapping[str, object],
    dataset: str,
    arch: str,
    steps: int,
    batch_size: int,
    seed: int,
    augment: str = "default",
    validation=None,
    **fields,
) -> dict[str, float]:
    """Train ``arch`` on ``data`` with ``seed``; record top-1 (%) on each test set as column ``tests`` key.

    ``tests`` maps a column name to an image set (``images`` uint8 NHWC, ``labels``). Extra ``fields`` go into
    every recorded row (what varies in the grid: size, ratio, augmentation...). ``validation``: an image set
    carved from the training data, scored too and recorded under :func:`validation_table` with the same row and
    columns, for best-of-K choices that must not see the test set.
    """
    batch = fitted_batch(data, batch_size)
    recipe = recipe_for(dataset, steps, batch)
    torch.manual_seed(seed)
    mean, std = data.channel_stats()
    model = build_model(arch, len(data.classes), data.resolution, mean=mean, std=std)
    with timed() as wall:
        report = train_classifier(model, data, recipe, augment=augment, seed=seed, device=run.device, progress=False)

    def record(where: str, column: str, images) -> float:
        value = evaluate(model, images.images, images.labels, device=run.device)
        run.record(
            table=where,
            row=row,
            column=column,
            value=value,
            unit="%",
            seed=seed,
            wall_seconds=wall(),
            dataset=dataset,
            arch=arch,
            steps=recipe.steps,
            batch_size=batch,
            optimizer=recipe.optimizer,
            augment=augment,
            train_images=sum(len(s.labels) for s in data.sources),
            images_per_second=round(report.images_per_second),
            **fields,
        )
        return value

    scores = {column: record(table, column, test) for column, test in tests.items()}
    if validation is not None:
        for column in tests:
            record(validation_table(table), column, validation)
    return scores
