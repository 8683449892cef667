"""Recipes, real + synthetic mixing, the training loop (it learns; its fast path matches fp32), ME-ADA, KD."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from repro.classifiers import (
    MeAda,
    Pool,
    Recipe,
    Speed,
    TrainingData,
    TrainStep,
    build_model,
    distil,
    evaluate,
    kd_loss,
    mean_std,
    mixing,
    parse_ratio,
    soft_cross_entropy,
    split_batch,
    train_classifier,
)
from repro.errors import ReproError

from .test_classifiers_support import bars_dataset

CPU = torch.device("cpu")


def _constant_set(value: int, n: int, classes=("a", "b"), size=8, name="set") -> Pool:
    images = np.full((n, size, size, 3), value, dtype=np.uint8)
    return Pool(images, np.arange(n) % len(classes), list(classes), name)


@pytest.mark.parametrize(
    "ratio,counts", [("1:7", (16, 112)), ("1:3", (32, 96)), ("1:1", (64, 64)), ("3:1", (96, 32)), ("7:1", (112, 16))]
)
def test_every_batch_holds_the_exact_real_synthetic_counts(ratio, counts):
    real, synthetic = _constant_set(255, 150, name="real"), _constant_set(0, 300, name="synthetic")
    data = TrainingData(real, synthetic, parse_ratio(ratio))
    stream = data.stream(128, CPU, seed=0, crop_pad=0, flip=True)
    for _ in range(12):  # several epochs of the smaller source
        images, labels = next(stream)
        assert images.shape == (128, 3, 8, 8) and labels.shape == (128,)
        is_real = images.flatten(1).mean(1) == 1.0
        assert int(is_real.sum()) == counts[0] and int((~is_real).sum()) == counts[1]
        assert is_real[: counts[0]].all()


def test_ratio_and_label_mismatches_are_clear_errors():
    with pytest.raises(ReproError, match="REAL:SYNTHETIC"):
        parse_ratio("1-1")
    with pytest.raises(ReproError, match="both parts"):
        parse_ratio("0:1")
    with pytest.raises(ReproError, match="divisible by 6"):
        split_batch(128, (1, 5))
    real = _constant_set(255, 10, classes=("a", "b"))
    with pytest.raises(ReproError, match="differ from synthetic classes"):
        TrainingData(real, _constant_set(0, 10, classes=("b", "a")), (1, 1))
    with pytest.raises(ReproError, match="need a ratio"):
        TrainingData(real, _constant_set(0, 10))
    with pytest.raises(ReproError, match="resize the synthetic set"):
        TrainingData(real, _constant_set(0, 10, size=16), (1, 1))
    with pytest.raises(ReproError, match="is empty"):
        TrainingData(_constant_set(255, 0))
    with pytest.raises(ReproError, match="no training data"):
        TrainingData()


def test_a_source_smaller_than_its_share_of_a_batch_is_refused():
    data = TrainingData(_constant_set(255, 10), _constant_set(0, 200), (1, 1))
    with pytest.raises(ReproError, match="fewer than the 64"):
        next(data.stream(128, CPU, 0, 0, False))


def _float_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = images.reshape(-1, 3).astype(np.float64) / 255
    return pixels.mean(0), pixels.std(0)


def test_channel_stats_are_the_float_definition_across_chunks_and_computed_once_per_array(monkeypatch):
    images = np.random.default_rng(0).integers(0, 256, (20, 6, 6, 3), dtype=np.uint8)
    images[:, :, :, 2] = 255  # a constant channel: std at its floor, not a negative variance
    monkeypatch.setattr(mixing, "SUMS_CHUNK", 7)  # 20 images: three chunks, the last one short
    histograms, bincount = [], np.bincount
    monkeypatch.setattr(np, "bincount", lambda *a, **k: histograms.append(1) or bincount(*a, **k))
    mean, std = TrainingData(Pool(images, np.zeros(20, dtype=int), ["a"], "set")).channel_stats()
    expected_mean, expected_std = _float_stats(images)
    np.testing.assert_allclose(mean, expected_mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(std[:2], expected_std[:2], rtol=0, atol=1e-9)
    assert mean[2] == 1.0 and std[2] == pytest.approx(1e-6)
    assert len(histograms) == 3
    # another grid cell on the same images (Table 3 trains each retrieved set at every seed) sums nothing again
    assert TrainingData(Pool(images, np.ones(20, dtype=int), ["a", "b"], "again")).channel_stats() == (mean, std)
    assert len(histograms) == 3
    with pytest.raises(ReproError, match="uint8 images"):
        mixing.channel_sums(images.astype(np.float32))


@pytest.mark.gpu
def test_channel_stats_on_the_gpu_are_the_hosts_to_the_last_bit():
    images = np.random.default_rng(1).integers(0, 256, (9000, 8, 8, 3), dtype=np.uint8)
    on_host = mixing.channel_sums(images.copy())
    on_gpu = mixing.channel_sums(images, "cuda")
    assert all(np.array_equal(a, b) for a, b in zip(on_host, on_gpu))


def test_recipe_warms_up_for_two_per_cent_of_the_steps_but_not_for_a_few_steps_only():
    assert Recipe.sgd(50_000).warmup == 1000  # the authors' default
    assert Recipe.sgd(10_000).warmup == 200
    assert Recipe.sgd(500).warmup == 100 and Recipe.sgd(3000).warmup == 100  # the mini budgets: 2 % would be 10, 60
    assert Recipe.sgd(200).warmup == 40 and Recipe.sgd(4).warmup == 0  # never more than a fifth of the steps
    assert Recipe.sgd(500, warmup_steps=10).warmup == 10


def test_recipe_schedule_warms_up_then_follows_the_cosine():
    recipe = Recipe.sgd(1000, warmup_steps=20)
    assert (recipe.batch_size, recipe.momentum, recipe.weight_decay, recipe.nesterov) == (128, 0.9, 5e-4, False)
    assert recipe.warmup == 20 and recipe.padding(32) == 4 and recipe.padding(96) == 12
    assert recipe.lr_at(0) == pytest.approx(0.1 * 1e-3, rel=1e-2)
    assert recipe.lr_at(10) == pytest.approx(
        0.1 * (1e-3 + 0.999 * 0.5) * (1e-3 + 0.999 * 0.5 * (1 + math.cos(math.pi * 0.01)))
    )
    assert recipe.lr_at(20) == pytest.approx(0.1 * (1e-3 + 0.999 * 0.5 * (1 + math.cos(math.pi * 0.02))))
    assert recipe.lr_at(500) == pytest.approx(0.1 * (1e-3 + 0.999 * 0.5))
    assert recipe.lr_at(999) < 1e-3 * 0.1 * 1.01
    adamw = Recipe.adamw(100)
    assert (adamw.optimizer, adamw.lr, adamw.weight_decay) == ("adamw", 1e-3, 5e-4)
    optimizer, lr = adamw.optimizer_for(torch.nn.Linear(2, 2).parameters(), CPU)
    assert isinstance(optimizer, torch.optim.AdamW) and lr.item() == pytest.approx(adamw.lr_at(0))
    with pytest.raises(ReproError):
        Recipe(steps=0)


def test_training_learns_an_easy_task():
    train, test = bars_dataset(48, seed=0), bars_dataset(16, seed=1)
    torch.manual_seed(0)
    model = build_model("cifar_resnet20", 4, 16)
    # 60 short steps: enough for the BatchNorm running statistics to catch up with the weights
    report = train_classifier(
        model,
        TrainingData(real=train),
        Recipe.sgd(60, batch_size=32, lr=0.05),
        seed=0,
        device="cpu",
        progress=False,
        log_every=10,
    )
    assert report.losses[-1][1] < 0.5 * report.losses[0][1]
    assert evaluate(model, test.images, test.labels) >= 90.0
    assert not model.training


def test_the_fast_step_matches_fp32_on_the_same_batch():
    """bf16 autocast + channels-last (the GPU path, minus compile and graph) against plain fp32: same loss,
    same update direction."""
    torch.manual_seed(0)
    images, targets = torch.rand(16, 3, 16, 16), F.one_hot(torch.arange(16) % 4, 4).float()
    results = {}
    for name, speed in {"fp32": Speed.plain(), "fast": Speed(bf16=True, channels_last=True, compile=None)}.items():
        torch.manual_seed(1)
        model = build_model("cifar_resnet20", 4, 16)
        if speed.channels_last:
            model.to(memory_format=torch.channels_last)
        before = torch.cat([p.detach().flatten() for p in model.parameters()])
        optimizer, _ = Recipe.sgd(10).optimizer_for(model.parameters(), CPU)
        step = TrainStep(model, soft_cross_entropy, optimizer, (16, 3, 16, 16), 4, CPU, speed)
        loss = step(images, targets).item()
        update = torch.cat([p.detach().flatten() for p in model.parameters()]) - before
        results[name] = loss, update
    (loss32, update32), (loss16, update16) = results["fp32"], results["fast"]
    assert loss16 == pytest.approx(loss32, rel=0.02)
    assert F.cosine_similarity(update32, update16, dim=0) > 0.95  # bf16 gradients of one random-init step
    assert update16.norm() == pytest.approx(update32.norm().item(), rel=0.1)


def test_meada_ascent_raises_its_objective_and_the_set_doubles_per_phase():
    assert MeAda().phase_steps(1000) == [100, 200] and MeAda().step_size == 5.0
    meada = MeAda(ascent_steps=3, step_size=0.05)  # small steps: the ascent direction is what is tested
    train = bars_dataset(16, seed=0)
    model = build_model("cifar_resnet20", 4, 16).eval()
    x = torch.as_tensor(train.images[:8]).permute(0, 3, 1, 2).float() / 255
    y = torch.as_tensor(train.labels[:8])

    def objective(images):
        logits = model(images)
        log_p = F.log_softmax(logits, 1)
        entropy = -(log_p.exp() * log_p).sum(1).mean()
        return (
            F.cross_entropy(logits, y)
            + meada.eta * entropy
            - meada.gamma * F.mse_loss(model.features(images), model.features(x))
        )

    adversarial = meada.ascend(model, x, y)
    assert 0 <= adversarial.min() and adversarial.max() <= 1 and not torch.equal(adversarial, x)
    with torch.no_grad():
        assert objective(adversarial) > objective(x)

    data = TrainingData(real=train)
    images, labels = meada.generate(model, data, 32, CPU, Speed.plain())
    assert images.shape == train.images.shape and images.dtype == np.uint8
    assert np.array_equal(labels, train.labels)
    grown = data.extended(images, labels)
    assert len(grown.real) == 2 * len(train)
    with pytest.raises(ReproError, match="single training set"):
        TrainingData(train, train, (1, 1)).extended(images, labels)
    model = build_model("cifar_resnet20", 4, 16)
    train_classifier(
        model,
        data,
        Recipe.sgd(10, batch_size=32),
        augment="meada",
        meada=MeAda(interval=0.3, ascent_steps=1),
        device="cpu",
        progress=False,
    )


def test_meada_ascends_many_batches_at_once_as_each_batch_alone(monkeypatch):
    """generate ascends several training batches per call; each image must move as in its own batch, the short
    last batch of the set included (its images take larger steps: its loss is a mean over fewer)."""
    import repro.classifiers.meada as meada_module

    meada = MeAda(ascent_steps=2, step_size=2.0)
    train = bars_dataset(10, seed=1)  # 40 images in batches of 16: 16, 16 and a short 8
    assert len(train) == 40
    model = build_model("cifar_resnet20", 4, 16).eval()
    x = torch.as_tensor(train.images).permute(0, 3, 1, 2).float() / 255
    y = torch.as_tensor(train.labels)
    alone = torch.cat([meada.ascend(model, x[i : i + 16], y[i : i + 16]) for i in range(0, 40, 16)])
    images, _ = meada.generate(model, TrainingData(real=train), 16, CPU, Speed.plain())
    expected = (alone * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1  # one chunk of all 40 images
    assert (images == expected).mean() > 0.99
    # weighing the short batch like the others moves its images differently: the weights are what is tested
    uniform = meada.ascend(model, x, y, torch.full((40,), 1 / 16))
    assert not torch.allclose(uniform[32:], alone[32:], atol=1e-3)
    assert torch.allclose(uniform[:32], alone[:32], atol=1e-5)
    # and in chunks of whole batches (here one batch per call) it is the same again
    monkeypatch.setattr(meada_module, "ASCENT_IMAGES", 16)
    chunked, _ = meada.generate(model, TrainingData(real=train), 16, CPU, Speed.plain())
    assert np.array_equal(chunked, expected)


def test_kd_loss_matches_a_hand_computation():
    student = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    teacher = torch.tensor([[2.0, 1.0, 0.0], [1.0, 1.0, 4.0]])
    temperature = 3.0

    def softmax(v):
        e = np.exp(v - v.max())
        return e / e.sum()

    kl = []
    for s, t in zip(student.numpy(), teacher.numpy()):
        p, q = softmax(t / temperature), softmax(s / temperature)
        kl.append(np.sum(p * (np.log(p) - np.log(q))))
    expected = np.mean(kl) * temperature**2
    assert kd_loss(student, teacher, temperature).item() == pytest.approx(expected, rel=1e-5)
    labels = torch.tensor([1, 2])
    ce = np.mean([-np.log(softmax(s)[y]) for s, y in zip(student.numpy(), labels.numpy())])
    mixed = kd_loss(student, teacher, temperature, labels, alpha=0.3).item()
    assert mixed == pytest.approx(0.3 * ce + 0.7 * expected, rel=1e-5)
    assert kd_loss(teacher, teacher, temperature).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ReproError, match="no labels"):
        kd_loss(student, teacher, temperature, None, alpha=0.5)
    with pytest.raises(ReproError, match="temperature"):
        kd_loss(student, teacher, 0.0)


def test_distillation_moves_the_student_towards_the_teacher():
    data = TrainingData(real=bars_dataset(32, seed=0))
    torch.manual_seed(0)
    teacher = build_model("cifar_resnet20", 4, 16).eval()
    student = build_model("cifar_resnet20", 4, 16)
    x = torch.as_tensor(data.real.images).permute(0, 3, 1, 2).float() / 255

    def gap():
        with torch.no_grad():
            return kd_loss(student.eval()(x), teacher(x), 4.0).item()

    before = gap()
    distil(
        teacher, student, data, Recipe.sgd(30, batch_size=32, lr=0.05), temperature=4.0, device="cpu", progress=False
    )
    assert gap() < 0.5 * before
    with pytest.raises(ReproError, match="classes"):
        distil(teacher, build_model("cifar_resnet20", 3, 16), data, Recipe.sgd(1), device="cpu")


def test_evaluation_checks_its_input_and_averages_seeds():
    model = build_model("cifar_resnet20", 2, 8)
    with pytest.raises(ReproError, match="trained at 8 px"):
        evaluate(model, np.zeros((4, 16, 16, 3), np.uint8), np.zeros(4))
    with pytest.raises(ReproError, match="no test images"):
        evaluate(model, np.zeros((0, 8, 8, 3), np.uint8), np.zeros(0))
    images = np.random.default_rng(0).integers(0, 255, (10, 8, 8, 3)).astype(np.uint8)
    predicted = model.eval()(torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy()
    assert evaluate(model, images, predicted) == 100.0
    assert evaluate(model, torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255, (predicted + 1) % 2) == 0.0
    mean, std = mean_std([94.0, 95.0, 96.0])
    assert (mean, std) == (95.0, pytest.approx(1.0))
    assert math.isnan(mean_std([1.0])[1])
