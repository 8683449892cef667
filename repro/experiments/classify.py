"""Classifiers per seed on real, synthetic or mixed data, scored on real test sets and recorded; a grid of them
trained together on one GPU.

The recipe is the paper's (appendix B.1): SGD for natural images, AdamW for MedMNIST-like data
(``repro.classifiers.Recipe``); the same budget in steps for every training set of a comparison.

A notebook's loops over datasets x settings x seeds give many small trainings. Collected in a
:class:`TrainingGrid`, they are trained ``max_concurrent`` at a time side by side on the GPU, the next starting as
one ends (``repro.classifiers.train_classifiers``), each exactly the model it would be trained alone, and their rows are
recorded in the order the trainings were added, as :func:`train_and_test` one after another records them. Each
finished training is kept in the run's work folder (``repro.experiments.training_store``), so a notebook stopped
in the middle of its grid trains, when rerun, only what it had not trained yet.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from ..classifiers import (
    MAX_CONCURRENT,
    Recipe,
    TrainingData,
    TrainingJob,
    build_model,
    evaluate,
    train_classifiers,
)
from ..errors import ReproError
from ..provenance import phase
from .training_store import TrainingStore

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


def train_and_test(run, **training) -> dict[str, float]:
    """Train ``arch`` on ``data`` with ``seed``; record top-1 (%) on each test set as column ``tests`` key.

    The keywords: ``table``, ``row``, ``data`` (a ``TrainingData``), ``tests``, ``dataset``, ``arch``, ``steps``,
    ``batch_size``, ``seed``, optionally ``augment`` and ``validation``, and extra fields. ``tests`` maps a column
    name to an image set (``images`` uint8 NHWC, ``labels``). Extra fields go into every recorded row (what varies
    in the grid: size, ratio, augmentation...). ``validation``: an image set carved from the training data,
    scored too and recorded under :func:`validation_table` with the same row and columns, for best-of-K choices
    that must not see the test set. Returns the top-1 per ``tests`` column. A grid of trainings whose results
    are not needed one before the next trains faster in a :class:`TrainingGrid`.
    """
    (scores,) = train_and_test_many(run, [training])
    return scores


def train_and_test_many(
    run, trainings: Sequence[Mapping[str, Any]], max_concurrent: int = MAX_CONCURRENT
) -> list[dict[str, float]]:
    """:func:`train_and_test` for each of ``trainings`` (its keyword arguments), trained together on one GPU,
    ``max_concurrent`` at a time; every model is the one trained alone, the rows are recorded in the order of
    ``trainings``, and the scores returned in that order.

    Each finished training is kept in the run's work folder (:class:`.training_store.TrainingStore`): a rerun of the
    notebook, after a stop anywhere, records the kept ones' rows again and trains only the others.

    Timing columns of a row trained together: ``images_per_second`` is its own training's rate while it shared
    the GPU (the group's aggregate rate is their sum), ``wall_seconds`` the wall time from its set-up to its last
    step (a span it shared), ``trained_together`` the most trainings that ran at once beside it (1: alone).
    ``fallback`` is empty, or says why the training was trained again in fp32 (its loss diverged on the fast path).
    """
    store = TrainingStore(run)
    keys = [store.key(training) for training in trainings]
    done = [store.load(key) for key in keys]
    recorded = 0

    def record_finished() -> None:  # the rows in the order of ``trainings``, as soon as every earlier one is in
        nonlocal recorded
        while recorded < len(done) and done[recorded] is not None:
            for row in done[recorded]["rows"]:
                run.record(**row)
            recorded += 1

    record_finished()
    left = [i for i, kept in enumerate(done) if kept is None]
    if left:
        with phase("training"):  # the models' set-up, their training and their test scores
            cells = {i: _Cell(run, **trainings[i]) for i in left}
            jobs = [cells[i].job for i in left]

            def finished(k: int, report) -> None:  # scored and kept as it ends: a stop loses no finished training
                i = left[k]
                done[i] = store.save(keys[i], cells.pop(i).result(run, report))
                jobs[k] = None  # its model is no longer needed
                record_finished()

            # one window over the whole grid: a training that ends lets the next start while the others go on
            train_classifiers(jobs, device=run.device, max_concurrent=max_concurrent, progress=False, on_done=finished)
    return [kept["scores"] for kept in done]


class _Cell:
    """One training of a grid: its model (built from its seed) and job, and the rows it records when trained."""

    def __init__(
        self,
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
    ):
        batch = fitted_batch(data, batch_size)
        self.recipe = recipe_for(dataset, steps, batch)
        torch.manual_seed(seed)  # the initial weights: the same whenever the model is built
        mean, std = data.channel_stats(run.device)
        self.model = build_model(arch, len(data.classes), data.resolution, mean=mean, std=std)
        name = _name(table, row, tests, seed)
        self.job = TrainingJob(self.model, data, self.recipe, augment, seed=seed, name=name)
        self.table, self.row, self.tests, self.validation, self.seed = table, row, tests, validation, seed
        self.fields = dict(dataset=dataset, arch=arch, steps=self.recipe.steps, batch_size=batch)
        self.fields.update(optimizer=self.recipe.optimizer, augment=augment)
        self.fields.update(train_images=sum(len(s.labels) for s in data.sources), **fields)

    def result(self, run, report) -> dict[str, Any]:
        """The trained model's scores per test column and the keywords of the rows it records (``run.record``)."""

        def accuracy(images) -> float:
            return evaluate(self.model, images.images, images.labels, device=run.device)

        def row(where: str, column: str, value: float) -> dict[str, Any]:
            return dict(
                table=where,
                row=self.row,
                column=column,
                value=value,
                unit="%",
                seed=self.seed,
                wall_seconds=report.seconds,
                images_per_second=round(report.images_per_second),
                trained_together=report.concurrent,
                fallback=report.fallback,
                **self.fields,
            )

        scores = {column: accuracy(test) for column, test in self.tests.items()}
        rows = [row(self.table, column, value) for column, value in scores.items()]
        if self.validation is not None:  # one model, one validation set: scored once, recorded under each column
            value = accuracy(self.validation)
            rows += [row(validation_table(self.table), column, value) for column in self.tests]
        return {"rows": rows, "scores": scores}


def _name(table: str, row, tests: Mapping[str, object], seed: int) -> str:
    """How errors name a training: ``Table 4 / Synthetic (Ours) / CutOut, seed 1``."""
    return f"{table} / {row} / {', '.join(map(str, tests))}, seed {seed}"


class Scores(Mapping):
    """Top-1 (%) per test column of one training of a :class:`TrainingGrid`, readable once it has been trained."""

    def __init__(self, name: str):
        self.name = name
        self.values: dict[str, float] | None = None

    def _trained(self) -> dict[str, float]:
        if self.values is None:
            raise ReproError(
                f"{self.name} has not been trained yet: read its scores after the `with TrainingGrid(run)` block"
            )
        return self.values

    def __getitem__(self, column: str) -> float:
        return self._trained()[column]

    def __iter__(self) -> Iterator[str]:
        return iter(self._trained())

    def __len__(self) -> int:
        return len(self._trained())


class TrainingGrid:
    """The trainings of a notebook's loops, collected and trained together on one GPU::

        with TrainingGrid(run, arch=arch, steps=train_steps, batch_size=batch_size) as grid:
            for seed in seeds:
                for method, data in sets.items():
                    grid.add(table=TABLE, row=..., data=data, tests={method: test}, seed=seed, ...)

    ``add`` takes what :func:`train_and_test` takes and returns the training's :class:`Scores`, readable once the
    block has ended: then every training added is trained, ``max_concurrent`` at a time, the next starting as one
    ends, so a slow training (an augmentation policy, a larger architecture) never holds back a whole group of
    fast ones. Rows are recorded in the order the trainings were added. A block left by an error trains nothing.
    """

    def __init__(self, run, max_concurrent: int = MAX_CONCURRENT, **shared):
        #: keywords every ``add`` gets (what all the grid's trainings share: the recipe, arch, steps, batch_size)
        self.shared = shared
        self.run, self.max_concurrent = run, max_concurrent
        self.waiting: list[tuple[dict[str, Any], Scores]] = []

    def __enter__(self) -> TrainingGrid:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is None:
            self.train()

    def add(self, **training) -> Scores:
        twice = sorted(self.shared.keys() & training.keys())
        if twice:
            raise ReproError(f"{', '.join(twice)}: given to the TrainingGrid and to add(); give each in one place")
        training = {**self.shared, **training}
        # a missing or unknown keyword fails here, where the notebook adds it, not when the grid trains
        named = inspect.signature(_Cell).bind(self.run, **training).arguments
        scores = Scores(_name(named["table"], named["row"], named["tests"], named["seed"]))
        self.waiting.append((training, scores))
        return scores

    def train(self) -> None:
        """Train every training still waiting and record its rows."""
        waiting, self.waiting = self.waiting, []
        results = train_and_test_many(self.run, [training for training, _ in waiting], self.max_concurrent)
        for (_, scores), values in zip(waiting, results):
            scores.values = values
