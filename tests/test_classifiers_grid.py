"""Trainings of a grid advanced together: each model is exactly the model trained alone, errors name the training."""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import pytest
import torch

from repro.classifiers import (
    MeAda,
    Recipe,
    Speed,
    TrainingData,
    TrainingJob,
    build_model,
    soft_cross_entropy,
    train_classifier,
    train_classifiers,
)
from repro.classifiers import train as train_module
from repro.classifiers.graphed import GraphedStep, own_stream
from repro.errors import ReproError

from .test_classifiers_support import bars_dataset

REAL, SYNTHETIC = bars_dataset(24, seed=0, name="real"), bars_dataset(24, seed=1, name="synthetic")

#: (arch, data, augment, steps, seed): what differs between the trainings of one grid. MobileNetV2 draws its
#: dropout from torch's global generator; MixUp, CutOut and RandAugment draw from their own; ME-ADA grows its set
#: mid-training; the steps differ, so trainings end apart and waiting ones start while others run.
GRID = [
    ("cifar_resnet20", TrainingData(real=REAL), "default", 6, 0),
    ("mobilenet_v2", TrainingData(real=REAL), "default", 5, 1),
    ("cifar_resnet20", TrainingData(real=REAL, synthetic=SYNTHETIC, ratio=(1, 3)), "mixup", 7, 2),
    ("mobilenet_v2", TrainingData(synthetic=SYNTHETIC), "cutout", 4, 3),
    ("cifar_resnet20", TrainingData(real=REAL), "meada", 6, 4),
    ("cifar_resnet20", TrainingData(real=REAL), "randaugment", 3, 5),
]


def _jobs() -> list[TrainingJob]:
    jobs = []
    for arch, data, augment, steps, seed in GRID:
        torch.manual_seed(seed)
        model = build_model(arch, len(data.classes), data.resolution)
        meada = MeAda(interval=0.3, ascent_steps=1) if augment == "meada" else None
        jobs.append(
            TrainingJob(model, data, Recipe.sgd(steps, batch_size=16, lr=0.05), augment, seed=seed, meada=meada)
        )
    return jobs


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _train_alone(job: TrainingJob):
    options = dict(augment=job.augment, seed=job.seed, meada=job.meada, device="cpu", progress=False, log_every=2)
    return train_classifier(job.model, job.data, job.recipe, **options)


def test_models_trained_together_are_bit_identical_to_models_trained_alone():
    alone = _jobs()
    alone_reports = [_train_alone(job) for job in alone]
    together = _jobs()
    global_state = torch.get_rng_state()
    reports = train_classifiers(together, device="cpu", max_concurrent=3, log_every=2, progress=False)
    assert torch.equal(torch.get_rng_state(), global_state)  # the trainings drew from their own generators only
    for solo, grid, solo_report, report in zip(alone, together, alone_reports, reports):
        mine, theirs = _weights(solo.model), _weights(grid.model)
        assert mine.keys() == theirs.keys()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine), f"{grid.model.arch} seed {grid.seed} differs"
        assert report.losses == solo_report.losses and report.steps == grid.recipe.steps
        assert not grid.model.training
    assert [r.concurrent for r in alone_reports] == [1] * len(GRID)
    assert max(r.concurrent for r in reports) == 3


def test_without_their_own_randomness_interleaved_dropout_models_would_differ(monkeypatch):
    """The check above has teeth: with one shared global generator, MobileNetV2's dropout masks interleave."""
    alone = [job for job in _jobs() if job.model.arch == "mobilenet_v2"]
    for job in alone:
        _train_alone(job)
    monkeypatch.setattr(train_module.OwnRandomness, "active", lambda self: contextlib.nullcontext())
    together = [job for job in _jobs() if job.model.arch == "mobilenet_v2"]
    train_classifiers(together, device="cpu", progress=False)
    solo, grid = _weights(alone[0].model), _weights(together[0].model)
    assert not all(torch.equal(solo[k], grid[k]) for k in solo)


def test_an_error_names_the_training_it_happened_in():
    jobs = _jobs()[:3]
    jobs[1] = TrainingJob(jobs[1].model, jobs[1].data, Recipe.sgd(4, batch_size=16, lr=1e30), name="MobileNet, lr 1e30")
    with pytest.raises(ReproError, match=r"^MobileNet, lr 1e30: the training loss became (nan|inf) by step 2"):
        train_classifiers(jobs, device="cpu", log_every=2, progress=False)
    unnamed = _jobs()[:2]
    unnamed[1] = TrainingJob(build_model("cifar_resnet20", 3, 16), unnamed[1].data, unnamed[1].recipe)
    with pytest.raises(ReproError, match=r"^training 2 of 2: the model predicts 3 classes but the data has 4"):
        train_classifiers(unnamed, device="cpu", progress=False)
    with pytest.raises(ReproError, match="max_concurrent"):
        train_classifiers(unnamed, device="cpu", max_concurrent=0)


def test_a_grid_of_one_is_train_classifier():
    data = TrainingData(real=REAL)
    reports = []
    for train in (
        lambda model: train_classifier(model, data, Recipe.sgd(3, batch_size=16), seed=7, device="cpu", progress=False),
        lambda model: train_classifiers(
            [TrainingJob(model, data, Recipe.sgd(3, batch_size=16), seed=7)], device="cpu", progress=False
        )[0],
    ):
        torch.manual_seed(0)
        model = build_model("cifar_resnet20", 4, 16)
        reports.append((train(model), _weights(model)))
    (first, weights), (second, again) = reports
    assert first.losses == second.losses and all(torch.equal(weights[k], again[k]) for k in weights)
    assert np.isfinite(first.images_per_second) and first.seconds > 0


#: a fast path that runs on a CPU: bf16 autocast, eager
BF16 = Speed(bf16=True, channels_last=False, compile=None, cuda_graph=False)
FELL_BACK = (
    "the training loss became nan by step 2 on the fast path (bf16); trained again from its initial weights in fp32, "
    "eager"
)


def nan_in_bf16(logits: torch.Tensor, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The soft cross entropy, but nan on logits from bf16 autocast: a loss that diverges on the fast path only."""
    loss = soft_cross_entropy(logits, images, targets)
    return loss * math.nan if logits.dtype == torch.bfloat16 else loss


def _fallback_jobs(objective) -> list[TrainingJob]:
    """A MobileNetV2 (dropout) with MixUp whose loss is ``objective``, and a ResNet-20 with CutOut beside it."""
    jobs = []
    for arch, augment, seed, loss in [("mobilenet_v2", "mixup", 1, objective), ("cifar_resnet20", "cutout", 2, None)]:
        torch.manual_seed(seed)
        model = build_model(arch, 4, 16)
        recipe = Recipe.sgd(6, batch_size=16, lr=0.05)
        jobs.append(
            TrainingJob(model, TrainingData(real=REAL), recipe, augment, loss, seed=seed, name=f"{arch} {seed}")
        )
    return jobs


def _train_alone_at(job: TrainingJob, speed: Speed):
    options = dict(augment=job.augment, objective=job.objective, seed=job.seed, device="cpu", speed=speed)
    return train_classifier(job.model, job.data, job.recipe, **options, progress=False, log_every=2)


def test_a_training_that_diverges_on_the_fast_path_is_trained_again_in_fp32_beside_the_others():
    """Its second training starts afresh from its initial weights, randomness, batches and augmentation: it is the
    model trained alone on the plain path. The training beside it goes on undisturbed: the model trained alone."""
    diverging, beside = _fallback_jobs(nan_in_bf16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reports = train_classifiers([diverging, beside], device="cpu", speed=BF16, log_every=2, progress=False)
    assert [str(w.message) for w in caught if "trained again" in str(w.message)] == [f"mobilenet_v2 1: {FELL_BACK}"]
    plain_alone, fast_alone = _fallback_jobs(nan_in_bf16)
    expected = [_train_alone_at(plain_alone, Speed.plain()), _train_alone_at(fast_alone, BF16)]
    for grid, solo, report, solo_report in zip([diverging, beside], [plain_alone, fast_alone], reports, expected):
        mine, theirs = _weights(solo.model), _weights(grid.model)
        assert all(torch.equal(mine[k], theirs[k]) for k in mine), f"{grid.name} differs from its training alone"
        assert report.losses == solo_report.losses and all(math.isfinite(loss) for _, loss in report.losses)
        assert not grid.model.training
    assert [r.fallback for r in reports] == [FELL_BACK, ""] and [r.fallback for r in expected] == ["", ""]
    assert reports[0].concurrent == 2 and reports[0].seconds > 0


def test_a_training_that_diverges_on_the_plain_path_too_stops_the_grid():
    def always_nan(logits, images, targets):
        return soft_cross_entropy(logits, images, targets) * math.nan

    for speed, fell_back in [(BF16, [f"mobilenet_v2 1: {FELL_BACK}"]), (Speed.plain(), [])]:
        with warnings.catch_warnings(record=True) as caught, pytest.raises(ReproError) as stopped:
            warnings.simplefilter("always")
            train_classifiers(_fallback_jobs(always_nan), device="cpu", speed=speed, log_every=2, progress=False)
        assert str(stopped.value) == "mobilenet_v2 1: the training loss became nan by step 2; lower the learning rate"
        assert [str(w.message) for w in caught if "trained again" in str(w.message)] == fell_back


@pytest.mark.gpu
@pytest.mark.parametrize("max_concurrent, concurrent", [(8, [3, 3, 3]), (2, [2, 2, 2])])
def test_on_a_gpu_graphs_replayed_side_by_side_give_the_models_trained_alone(monkeypatch, max_concurrent, concurrent):
    """CUDA graphs replayed on their own streams, MobileNetV2's dropout drawn inside the graphs from each
    training's own generator state: the weights are those trained alone. fp32 and deterministic cuDNN, so only
    cuBLAS's reduction order may differ between streams (far below a dropout mask's effect on an update). Two at a
    time, the third training starts as the short second one ends: it captures its graph while the first one's
    replays are still queued."""
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    speed = Speed(bf16=False, channels_last=False, compile=None)  # graphs on; compiling would take minutes

    def jobs() -> list[TrainingJob]:
        made = []
        for arch, seed, steps in [("mobilenet_v2", 0, 12), ("cifar_resnet20", 1, 4), ("mobilenet_v2", 2, 12)]:
            torch.manual_seed(seed)
            model = build_model(arch, 4, 16)
            made.append(TrainingJob(model, TrainingData(real=REAL), Recipe.sgd(steps, batch_size=16), seed=seed))
        return made

    alone = jobs()
    for job in alone:
        train_classifier(job.model, job.data, job.recipe, seed=job.seed, device="cuda", speed=speed, progress=False)
    together = jobs()
    reports = train_classifiers(together, device="cuda", speed=speed, max_concurrent=max_concurrent, progress=False)
    assert [r.concurrent for r in reports] == concurrent
    for solo, grid in zip(alone, together):
        mine, theirs = _weights(solo.model), _weights(grid.model)
        for key in mine:
            torch.testing.assert_close(theirs[key], mine[key], rtol=0, atol=1e-5, msg=f"{grid.model.arch} {key}")


@pytest.mark.gpu
def test_on_a_gpu_graphs_replayed_side_by_side_keep_their_matrix_products_apart():
    """Eight graphed steps of bf16 linear layers with a long inner dimension (cuBLAS may split it and sum the parts
    in its workspace, which PyTorch keys by the capture stream), each captured on a stream of its own and replayed
    side by side 100 times: every replay gives the eager product. On the H100 (torch 2.11) it passed with every
    graph captured on torch's one default capture stream too, so it guards the products; it does not reproduce
    the PACS grid's 1e34 losses of 8884ae4 (bench/seed_noise.py's grid against alone shows those)."""
    device = torch.device("cuda")
    generator = torch.Generator(device).manual_seed(0)
    steps, expected = [], []
    for _ in range(8):
        inputs = torch.randn(128, 16384, device=device, generator=generator, dtype=torch.bfloat16)
        weight = torch.randn(64, 16384, device=device, generator=generator, dtype=torch.bfloat16)
        bias = torch.randn(64, device=device, generator=generator, dtype=torch.bfloat16)
        expected.append(torch.nn.functional.linear(inputs, weight, bias).float())

        def product(inputs=inputs, weight=weight, bias=bias):
            return torch.nn.functional.linear(inputs, weight, bias).float()

        step = GraphedStep(product, device, warmup=1)
        steps.append((step, own_stream(step, device)))
    assert len({stream.stream_id for _, stream in steps}) == len(steps)
    wrong = []
    for replay in range(102):  # one eager call, the capture, then replays
        outputs = []
        for step, stream in steps:
            stream.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(stream):
                outputs.append(step())
        torch.cuda.synchronize(device)
        for index, (output, truth) in enumerate(zip(outputs, expected)):
            if not torch.allclose(output, truth, rtol=1e-2, atol=1.0):
                wrong.append((replay, index, (output - truth).abs().max().item()))
    assert not wrong, f"{len(wrong)} of {102 * len(steps)} replays differ from the eager product, first {wrong[:3]}"
