"""Trainings of a notebook's grid trained together record exactly the rows of one training after another."""

from __future__ import annotations

import dataclasses

import pytest

from repro.classifiers import TrainingData
from repro.errors import ReproError
from repro.experiments import ExperimentRun, TrainingGrid, train_and_test
from tests.conftest import CONFIG_DIR

from .test_classifiers_grid import BF16, nan_in_bf16
from .test_classifiers_support import bars_dataset

TRAIN, OTHER, TEST = bars_dataset(12, seed=0), bars_dataset(12, seed=1), bars_dataset(6, seed=2)
#: timing columns: the only ones that may differ between a grid and one training after another
TIMING = ["wall_seconds", "images_per_second", "trained_together"]


def _run(tmp_path, name: str, work: str | None = None) -> ExperimentRun:
    """A run writing into ``tmp_path/name``; its trainings are kept in ``tmp_path/work`` (default: its own)."""
    return ExperimentRun(
        "di_fig6_real_scaling",
        "smoke",
        tmp_path / name,
        {},
        device="cpu",
        work_dir=tmp_path / (work or f"{name}-work"),
        config_dir=CONFIG_DIR,
    )


def _trainings() -> list[dict]:
    """Two sets, two seeds, an augmentation, a validation split, a small set that lowers the batch, a mix."""
    found = []
    for seed in (0, 1):
        sets = {
            "Real": TrainingData(real=TRAIN),
            "Mixed": TrainingData(real=TRAIN, synthetic=OTHER, ratio=(1, 1)),
            "Few": TrainingData(real=bars_dataset(2, seed=3)),
        }
        for method, data in sets.items():
            found.append(
                dict(
                    table="Table 9",
                    row=f"{method} set",
                    data=data,
                    tests={method: TEST, f"{method}, again": TEST},
                    dataset="cifar10",
                    arch="cifar_resnet20",
                    steps=4,
                    batch_size=16,
                    seed=seed,
                    augment="cutout" if method == "Real" else "default",
                    validation=OTHER if method == "Mixed" else None,
                    method=method,
                )
            )
    return found


def test_a_grid_records_the_rows_of_one_training_after_another_in_their_order(tmp_path):
    one_by_one = _run(tmp_path, "alone")
    alone = [train_and_test(one_by_one, **training) for training in _trainings()]
    together = _run(tmp_path, "grid")
    recipe = {"arch": "cifar_resnet20", "steps": 4, "batch_size": 16}  # given once, to the grid
    with TrainingGrid(together, max_concurrent=4, **recipe) as grid:  # 6 equal trainings: 4 at once, then the last 2
        scores = [grid.add(**{k: v for k, v in t.items() if k not in recipe}) for t in _trainings()]
    assert [dict(s) for s in scores] == alone
    expected, recorded = one_by_one.frame(), together.frame()
    assert list(recorded.columns) == list(expected.columns)
    assert recorded.drop(columns=TIMING).equals(expected.drop(columns=TIMING))
    assert set(expected["trained_together"]) == {1} and set(recorded["trained_together"]) == {4, 2}
    assert (recorded["images_per_second"] > 0).all() and (recorded["wall_seconds"] > 0).all()
    assert set(recorded["batch_size"]) == {16, 8}  # the 8-image set lowered its batch, as alone


def test_a_training_that_ends_lets_the_next_start_beside_a_slow_one(tmp_path):
    """Two at a time: a long training and two short ones. The second short one starts as the first ends, beside
    the long one still training; in groups of two it would wait for the long one and train alone."""
    long, short, other = (dict(_trainings()[i]) for i in (0, 1, 3))
    long["steps"] = 12
    run = _run(tmp_path, "window")
    with TrainingGrid(run, max_concurrent=2) as grid:
        for training in (long, short, other):
            grid.add(**training)
    together = run.frame().groupby(["row", "seed"])["trained_together"].max().to_dict()
    assert together == {("Real set", 0): 2, ("Mixed set", 0): 2, ("Real set", 1): 2}


def test_a_training_is_kept_as_it_ends_though_a_slower_one_then_fails(tmp_path, monkeypatch):
    """Two at a time, a long and a short training; the second one scored fails. The short one ended first, was
    scored and kept then: a rerun trains the long one alone. (Scored in the order added once both had ended, the
    long one would be kept and the short one trained again.)"""
    import repro.experiments.classify as classify

    long, short = dict(_trainings()[0]), dict(_trainings()[3])
    long["steps"] = 12
    real_evaluate, models = classify.evaluate, []

    def second_model_fails(model, *args, **kwargs):
        if model not in models:
            models.append(model)
        if len(models) == 2:
            raise RuntimeError("stopped while scoring")
        return real_evaluate(model, *args, **kwargs)

    monkeypatch.setattr(classify, "evaluate", second_model_fails)
    with pytest.raises(RuntimeError, match="stopped while scoring"):
        with TrainingGrid(_run(tmp_path, "stopped", work="shared"), max_concurrent=2) as grid:
            grid.add(**long)
            grid.add(**short)
    monkeypatch.setattr(classify, "evaluate", real_evaluate)
    trained, real_trainer = [], classify.train_classifiers

    def naming(jobs, **options):
        trained.append([job.name for job in jobs])
        return real_trainer(jobs, **options)

    monkeypatch.setattr(classify, "train_classifiers", naming)
    with TrainingGrid(_run(tmp_path, "again", work="shared"), max_concurrent=2) as grid:
        grid.add(**long)
        grid.add(**short)
    assert trained == [[classify._name(long["table"], long["row"], long["tests"], long["seed"])]]


def test_a_training_trained_again_in_fp32_says_so_in_its_rows(tmp_path, monkeypatch):
    """On a fast path (bf16 on the CPU here) the first training's loss becomes nan: trained again in fp32, it scores
    as on the plain path, and its rows' ``fallback`` says what happened; the other training's rows say nothing."""
    import repro.experiments.classify as classify

    real_trainer = classify.train_classifiers
    trainings = _trainings()[:2]
    plain = _run(tmp_path, "plain")
    expected = [train_and_test(plain, **training) for training in trainings]
    assert set(plain.frame()["fallback"]) == {""}

    def first_diverges_on_a_fast_path(jobs, **options):
        jobs = [dataclasses.replace(jobs[0], objective=nan_in_bf16), *jobs[1:]]
        return real_trainer(jobs, **options, speed=BF16)

    monkeypatch.setattr(classify, "train_classifiers", first_diverges_on_a_fast_path)
    fast = _run(tmp_path, "fast")
    with pytest.warns(UserWarning, match=r"^Table 9 / Real set / Real, Real, again, seed 0: the training loss became"):
        scores = classify.train_and_test_many(fast, trainings)
    assert scores[0] == expected[0]
    fallback = fast.frame().groupby("row")["fallback"].unique().map(list).to_dict()
    assert fallback == {
        "Real set": [
            "the training loss became nan by step 4 on the fast path (bf16); trained again from its initial weights "
            "in fp32, eager"
        ],
        "Mixed set": [""],
    }


def test_scores_are_read_after_the_block_and_keywords_are_checked_where_added(tmp_path):
    run = _run(tmp_path, "grid")
    with TrainingGrid(run) as grid:
        scores = grid.add(**_trainings()[0])
        with pytest.raises(ReproError, match=r"Table 9 / Real set / Real, Real, again, seed 0 has not been trained"):
            scores["Real"]
        with pytest.raises(TypeError, match="seed"):
            grid.add(**{k: v for k, v in _trainings()[0].items() if k != "seed"})
    assert set(scores) == {"Real", "Real, again"} and 0 <= scores["Real"] <= 100
    shared = TrainingGrid(run, arch="cifar_resnet20", steps=4)  # what every training of a grid shares, given once
    with pytest.raises(ReproError, match="arch, steps: given to the TrainingGrid and to add"):
        shared.add(**_trainings()[0])
    with pytest.raises(RuntimeError, match="stop"), TrainingGrid(run) as grid:
        left = grid.add(**_trainings()[1])
        raise RuntimeError("stop")
    with pytest.raises(ReproError, match="not been trained"):  # a block left by an error trains nothing more
        left["Mixed"]


def test_a_rerun_trains_only_what_the_stopped_run_had_not_trained(tmp_path, monkeypatch):
    import repro.experiments.classify as classify

    trained = []  # the names of the trainings each call of the trainer got
    real_trainer = classify.train_classifiers

    def counting(jobs, **kwargs):
        trained.append([job.name for job in jobs])
        return real_trainer(jobs, **kwargs)

    monkeypatch.setattr(classify, "train_classifiers", counting)
    trainings = _trainings()
    first = _run(tmp_path, "first", work="shared")
    with pytest.raises(RuntimeError, match="stopped"), TrainingGrid(first, max_concurrent=2) as grid:
        for training in trainings[:4]:
            grid.add(**training)
        grid.train()  # four trained two at a time, each kept as it ended, then the notebook stops
        raise RuntimeError("stopped")
    assert len(trained) == 1 and len(trained[0]) == 4
    trained.clear()
    again = _run(tmp_path, "again", work="shared")
    with TrainingGrid(again, max_concurrent=2) as grid:
        scores = [grid.add(**training) for training in trainings]
    assert trained == [[classify._name(t["table"], t["row"], t["tests"], t["seed"]) for t in trainings[4:]]]
    fresh = _run(tmp_path, "fresh")  # the same grid with nothing kept
    with TrainingGrid(fresh, max_concurrent=2) as grid:
        expected = [grid.add(**training) for training in trainings]
    assert [dict(s) for s in scores] == [dict(s) for s in expected]
    resumed, alone = again.frame(), fresh.frame()
    assert list(resumed.columns) == list(alone.columns)
    assert resumed.drop(columns=TIMING).equals(alone.drop(columns=TIMING))


def test_a_kept_training_is_not_reused_when_its_images_or_recipe_change(tmp_path, monkeypatch):
    import repro.experiments.classify as classify

    calls = []
    real_trainer = classify.train_classifiers

    def counting(jobs, **kwargs):
        calls.append(len(jobs))
        return real_trainer(jobs, **kwargs)

    monkeypatch.setattr(classify, "train_classifiers", counting)
    training = _trainings()[0]
    train_and_test(_run(tmp_path, "one", work="shared"), **training)
    train_and_test(_run(tmp_path, "same", work="shared"), **training)
    assert calls == [1]  # the same training: kept
    changed = dataclasses.replace(TRAIN, images=TRAIN.images.copy())  # the training images, one pixel changed
    changed.images[0, 0, 0, 0] ^= 1
    train_and_test(_run(tmp_path, "pixel", work="shared"), **{**training, "data": TrainingData(real=changed)})
    train_and_test(_run(tmp_path, "steps", work="shared"), **{**training, "steps": 5})
    assert calls == [1, 1, 1]


def test_the_trainings_time_is_a_phase_of_the_notebooks_process(tmp_path, monkeypatch):
    import repro.provenance as provenance

    monkeypatch.setattr(provenance, "_phases", {})
    train_and_test(_run(tmp_path, "timed"), **_trainings()[0])
    trained = provenance.phase_seconds()["training"]
    assert trained > 0
    # a rerun that finds the training kept trains nothing: its phase adds no training's time
    train_and_test(_run(tmp_path, "again", work="timed-work"), **_trainings()[0])
    assert provenance.phase_seconds()["training"] == trained


def test_the_test_scores_count_as_training_not_as_other(tmp_path, monkeypatch):
    """A grid's test scores are part of its trainings' phase: scored outside it, Figure 6's 48 models'
    evaluations would swell the jobs table's unexplained "other"."""
    import time

    import repro.experiments.classify as classify
    import repro.provenance as provenance

    def slow_evaluate(*args, **kwargs):
        time.sleep(0.5)
        return 50.0

    monkeypatch.setattr(provenance, "_phases", {})
    monkeypatch.setattr(classify, "evaluate", slow_evaluate)
    with provenance.timed() as wall:
        train_and_test(_run(tmp_path, "scored"), **_trainings()[0])  # two test columns: two scores
    assert set(provenance.phase_seconds()) == {"training"}
    assert wall() - provenance.phase_seconds()["training"] < 1.0  # the two scores' 1.0 s are inside
