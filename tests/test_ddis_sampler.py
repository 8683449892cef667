"""Domain Alignment Guidance and the integrated sampler's ablation switches, on a tiny generator and teacher."""

import numpy as np
import pytest
import torch

from repro.ddis import dag as dag_module
from repro.ddis.dag import DAGConfig, DomainAlignmentGuidance
from repro.ddis.sampler import DDISSampler, SamplerConfig, sample_dataset
from repro.ddis.tokens import ClassTokens
from repro.errors import ReproError
from repro.generators.tiny import tiny_generator
from repro.provenance import phase_seconds
from repro.sampling.datafree import read_dataset

from .test_classifiers_batchnorm import tiny_bn_teacher

CLASSES = ["cat", "dog", "airplane"]


@pytest.fixture(scope="module")
def bundle():
    return tiny_generator(resolution=32)


@pytest.fixture(scope="module")
def teacher():
    return tiny_bn_teacher(num_classes=len(CLASSES))


@pytest.mark.parametrize("decode", ["zt", "x0"])
def test_a_dag_step_lowers_the_batchnorm_loss(bundle, teacher, decode):
    sampler = DDISSampler(
        bundle,
        CLASSES,
        "dag",
        teacher,
        config=SamplerConfig(steps=4, teacher_resolution=16, dag=DAGConfig(decode=decode)),
    )
    z = sampler.noise(6, torch.Generator().manual_seed(0))
    t = sampler.scheduler.timesteps[2]
    cond, uncond = sampler.conditioning([0, 1, 2, 0, 1, 2])
    to_decode = sampler._predicted_x0(t, z, cond, uncond) if decode == "x0" else (lambda v: v)
    guidance = DomainAlignmentGuidance(bundle, teacher, DAGConfig(eta=0.0), teacher_resolution=16)
    zg = z.clone().requires_grad_(True)
    loss = guidance.loss(to_decode(zg))
    (grad,) = torch.autograd.grad(loss, zg)
    # a step a tenth of the way to the linear model's zero
    guidance.config.eta = 0.1 * loss.item() / grad.pow(2).sum().item()
    corrected, before, eta = guidance.correct(z, to_decode)
    assert eta == guidance.config.eta
    assert before.shape == () and float(before) == pytest.approx(loss.item(), rel=1e-5)  # read when asked
    assert not torch.equal(corrected, z)
    assert guidance.loss(to_decode(corrected)).item() < float(before)


def test_calibrated_step_moves_pure_noise_by_the_asked_rms_then_stays_fixed(bundle, teacher):
    sampler = DDISSampler(
        bundle,
        CLASSES,
        "dag",
        teacher,
        config=SamplerConfig(steps=3, teacher_resolution=16, dag=DAGConfig(eta=123.0, step_rms=0.05)),
    )
    z = sampler.noise(6, torch.Generator().manual_seed(0))
    corrected, _, eta = sampler.dag.correct(z)
    assert float((corrected - z).pow(2).mean().sqrt()) == pytest.approx(0.05, rel=1e-4)
    again, _, same = sampler.dag.correct(corrected, eta=eta)  # later steps reuse the batch's eta
    assert same == eta and not torch.equal(again, corrected)
    cond, uncond = sampler.conditioning([0, 1, 2, 0, 1, 2])
    sampler.denoise(z, cond, uncond)
    assert sampler.dag_eta == pytest.approx(eta, rel=1e-4)  # calibrated once, at the first DAG step


def test_a_graphed_dag_step_is_refused_where_no_graph_can_replay_it(bundle, teacher):
    with pytest.raises(ReproError, match="graphed DAG step needs a CUDA generator"):
        DomainAlignmentGuidance(bundle, teacher, DAGConfig(), graphed=True)  # the tiny generator is on the CPU


@pytest.mark.gpu
def test_graphed_dag_steps_give_the_eager_steps(teacher):
    """Replayed from a CUDA graph, each batch shape's L_BN and gradient are the eager ones (bf16 autocast both)."""
    gpu = tiny_generator(resolution=32).to(device="cuda")
    gpu_teacher = tiny_bn_teacher(num_classes=len(CLASSES)).cuda().eval().requires_grad_(False)
    config = DAGConfig(step_rms=0.05)
    eager = DomainAlignmentGuidance(gpu, gpu_teacher, config, teacher_resolution=16)
    graphed = DomainAlignmentGuidance(gpu, gpu_teacher, config, teacher_resolution=16, graphed=True)
    generator = torch.Generator(device="cuda").manual_seed(0)
    for batch in (6, 4, 6):  # two shapes, the first again after the second: a graph per shape
        shape = (batch, gpu.latent_channels, gpu.latent_size(32), gpu.latent_size(32))
        z = torch.randn(shape, device="cuda", generator=generator)
        eta = None
        for step in range(6):  # three warm-up calls, the capture, then replays
            want, want_loss, want_eta = eager.correct(z, eta=eta)
            got, got_loss, eta = graphed.correct(z, eta=eta)
            assert eta == pytest.approx(want_eta, rel=1e-3), (batch, step)
            assert float(got_loss) == pytest.approx(float(want_loss), rel=1e-3), (batch, step)
            assert (got - want).abs().max().item() < 2e-3, (batch, step)
            z = want
    assert [shape[0] for shape in graphed._graphs] == [4, 6]  # the most recently used last
    for batch in (1, 2, 3):  # more shapes than it keeps: the least recently used go
        graphed.correct(torch.randn(batch, *shape[1:], device="cuda"))
    assert [shape[0] for shape in graphed._graphs] == [6, 1, 2, 3]


def test_dag_config_rejects_bad_values():
    with pytest.raises(ReproError, match="decode"):
        DAGConfig(decode="x1")
    with pytest.raises(ReproError, match="eta"):
        DAGConfig(eta=-1.0)
    with pytest.raises(ReproError, match="step_rms"):
        DAGConfig(step_rms=0.0)


@pytest.mark.parametrize(
    "mode, uses_token, uses_dag",
    [("vanilla", False, False), ("cat", True, False), ("dag", False, True), ("ddis", True, True)],
)
def test_ablation_switches_route_prompts_and_guidance(bundle, teacher, monkeypatch, mode, uses_token, uses_dag):
    calls = []
    original = dag_module.DomainAlignmentGuidance.correct

    def spy(self, latents, to_decode=None, eta=None):
        calls.append(latents.shape[0])
        return original(self, latents, to_decode, eta)

    monkeypatch.setattr(dag_module.DomainAlignmentGuidance, "correct", spy)
    tokens = ClassTokens.initial(bundle, CLASSES)
    config = SamplerConfig(steps=5, dag=DAGConfig(eta=0.5, start=1, stop=4))
    sampler = DDISSampler(bundle, CLASSES, mode, teacher, tokens, config)
    prompts = sampler.prompts([0, 2])
    if uses_token:
        assert prompts == ["a <ddis-cat> cat", "an <ddis-airplane> airplane"]
    else:
        assert prompts == ["a cat", "an airplane"]
    images = sampler.sample([0, 1, 2, 2], torch.Generator().manual_seed(0))
    assert images.shape == (4, 3, 32, 32) and torch.isfinite(images).all()
    assert images.min() >= -1 and images.max() <= 1
    assert calls == ([4, 4, 4] if uses_dag else [])  # steps 1, 2, 3 of 0..4
    assert [i for i, _ in sampler.dag_losses] == ([1, 2, 3] if uses_dag else [])


def test_modes_check_what_they_need(bundle, teacher):
    with pytest.raises(ReproError, match="unknown DDIS mode"):
        DDISSampler(bundle, CLASSES, "dag+cat", teacher)
    with pytest.raises(ReproError, match="needs a teacher"):
        DDISSampler(bundle, CLASSES, "ddis", None, ClassTokens.initial(bundle, CLASSES))
    with pytest.raises(ReproError, match="learn them first"):
        DDISSampler(bundle, CLASSES, "cat", teacher, None)
    with pytest.raises(ReproError, match="no token for classes"):
        DDISSampler(bundle, CLASSES, "cat", teacher, ClassTokens.initial(bundle, CLASSES[:2]))


def test_the_same_seed_gives_the_same_images_and_dag_changes_them(bundle, teacher):
    config = SamplerConfig(steps=3, dag=DAGConfig(eta=50.0))
    vanilla = DDISSampler(bundle, CLASSES, "vanilla", config=config)
    guided = DDISSampler(bundle, CLASSES, "dag", teacher, config=config)
    a = vanilla.sample([0, 1], torch.Generator().manual_seed(3))
    b = vanilla.sample([0, 1], torch.Generator().manual_seed(3))
    c = guided.sample([0, 1], torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_sample_dataset_writes_balanced_shards_and_resumes(bundle, tmp_path, monkeypatch):
    sampler = DDISSampler(bundle, CLASSES, "vanilla", config=SamplerConfig(steps=2))
    before = phase_seconds().get("sampling", 0.0)
    dataset = sample_dataset(sampler, per_class=3, batch_size=4, out=tmp_path / "syn", progress=False)
    assert dataset.complete
    assert phase_seconds()["sampling"] > before  # a workflow job's phases count it (notebooks call it directly)
    images, labels, classes = read_dataset(dataset.path)
    assert classes == CLASSES and images.shape == (9, 32, 32, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [3, 3, 3]
    monkeypatch.setattr(DDISSampler, "sample", lambda *a, **k: pytest.fail("a finished shard was redone"))
    sample_dataset(sampler, per_class=3, batch_size=4, out=dataset.path, progress=False)


def test_samplers_sharing_a_bundle_each_use_their_own_tokens():
    """The +CAT and DDIS rows install tokens of the same strings into one bundle: a sampler built first must
    still sample with its own vectors."""
    bundle = tiny_generator(resolution=32)
    first = ClassTokens(CLASSES, torch.randn(3, bundle.text_width, generator=torch.Generator().manual_seed(1)) * 5)
    second = ClassTokens(CLASSES, torch.randn(3, bundle.text_width, generator=torch.Generator().manual_seed(2)) * 5)
    config = SamplerConfig(steps=2)
    a = DDISSampler(bundle, CLASSES, "cat", tokens=first, config=config)
    alone = a.sample([0, 1], torch.Generator().manual_seed(0))
    b = DDISSampler(bundle, CLASSES, "cat", tokens=second, config=config)
    assert torch.equal(a.sample([0, 1], torch.Generator().manual_seed(0)), alone)
    assert not torch.allclose(b.sample([0, 1], torch.Generator().manual_seed(0)), alone)
