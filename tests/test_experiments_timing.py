"""The timing layer of the run-time notebooks and benchmarks: costs and their projection, the roles of the
Figure 4 cases, and each timed path (stage 1, stage 2, CAT, DDIS sampling, DeepInversion) on tiny models."""

from __future__ import annotations

import pytest
import torch

from repro.baselines.deepinversion import preset_for
from repro.ddis import CATConfig, DDISSampler, SamplerConfig
from repro.errors import ReproError
from repro.experiments import timing
from repro.experiments.generate import generator as load_bundle
from repro.generators import save_bundle
from repro.generators.tiny import tiny_generator
from repro.inversion import InversionConfig
from repro.provenance import phase_seconds
from repro.sampling import SamplingConfig

from .test_classifiers_batchnorm import tiny_bn_teacher


@pytest.fixture(scope="module")
def bundle():
    return tiny_generator(resolution=32)


def test_a_cost_projects_from_its_timed_steps_and_says_so():
    cost = timing.Cost(per_step=0.5, fixed=2.0, timed_steps=4)
    assert cost.at(4) == 4.0 and cost.at(100) == 52.0
    assert not cost.projected(4) and cost.projected(100)
    assert cost.projection(4) == "measured: 4 steps"
    assert cost.projection(100) == "projected from 4 timed steps to 100"


def test_cases_get_their_roles_and_their_standard():
    cases = timing.runtime_cases(
        [
            {"generator": "sd14-random", "resolution": 512, "text_encoder": True},
            {"generator": "sd14-random", "resolution": 512, "text_encoder": False},
            {"generator": "sd14-random", "resolution": 128, "text_encoder": False},
            {"generator": "mini", "resolution": 64, "text_encoder": False},
        ]
    )
    assert [c.role for c in cases] == [timing.STANDARD, timing.NO_TEXT_ENCODER, timing.LEARNED, timing.LEARNED]
    assert [c.learns_embedding for c in cases] == [False, False, True, True]
    assert timing.standard_for(cases[2], cases) == cases[0]
    assert timing.standard_for(cases[3], cases) is None  # no standard sampling of the mini model listed
    assert cases[2].label == "sd14-random 128x128 learned embedding"


def test_bad_cases_are_refused():
    with pytest.raises(ReproError, match="exactly generator, resolution and text_encoder"):
        timing.runtime_cases([{"generator": "mini", "resolution": 64}])
    with pytest.raises(ReproError, match="twice"):
        timing.runtime_cases([{"generator": "mini", "resolution": 64, "text_encoder": False}] * 2)


def test_fit_batch_halves_until_the_measurement_fits():
    tried = []

    def measure(batch):
        tried.append(batch)
        if batch > 3:
            raise torch.OutOfMemoryError("too big")
        return batch * 10

    assert timing.fit_batch(measure, 16, "cpu") == (20, 2)
    assert tried == [16, 8, 4, 2]


def spent(name: str) -> float:
    """The seconds this process has counted in phase ``name`` so far (a timing notebook's jobs-table row)."""
    return phase_seconds().get(name, 0.0)


def test_inversion_is_timed_per_step_and_shared_by_the_group(bundle):
    config = InversionConfig(steps=3000, resolution=32)
    before = spent("inversion")
    measured = timing.time_inversion(bundle, config, batch=2, steps=2)
    assert spent("inversion") - before >= measured["sec_per_step"] * 2  # Figure 4's job counts it as inversion
    assert measured["batch"] == 2 and measured["timed_steps"] == 2
    assert measured["sec_per_step"] > 0 and measured["setup_seconds"] > 0
    cost = timing.embedding_cost(measured)
    assert cost.per_step == pytest.approx(measured["sec_per_step"] / 2)
    assert cost.at(3000) == pytest.approx((measured["setup_seconds"] + 3000 * measured["sec_per_step"]) / 2)


@pytest.mark.parametrize("text_encoder", [False, True])
def test_sampling_is_timed_through_the_sampler(bundle, text_encoder, monkeypatch):
    encoded = []
    original = bundle.encode_text
    monkeypatch.setattr(bundle, "encode_text", lambda prompts: encoded.append(list(prompts)) or original(prompts))
    before = spent("sampling")
    measured = timing.time_sampling(bundle, SamplingConfig(steps=2), batch=3, resolution=32, text_encoder=text_encoder)
    assert spent("sampling") - before >= measured["generate_seconds"]
    assert measured["timed_steps"] == 2 and measured["batch"] == 3
    assert measured["generate_seconds"] > 0 and measured["decode_seconds"] > 0
    # standard sampling encodes every image's prompt (and the empty prompt); learned embeddings need no encoder
    assert bool(encoded) == text_encoder
    if text_encoder:
        assert timing.prompts(3) in encoded and [""] in encoded
    cost = timing.image_cost(measured)
    denoise = measured["generate_seconds"] - measured["decode_seconds"]
    assert cost.per_step == pytest.approx(max(denoise, 0.0) / 2 / 3)
    assert cost.fixed == pytest.approx((measured["encode_seconds"] + measured["decode_seconds"]) / 3)


def test_random_and_prompt_tables_fit_the_generator(bundle):
    random = timing.random_table(bundle, 4, 32)
    assert random.embeddings.shape == (4, bundle.max_tokens, bundle.text_width) and random.resolution == 32
    prompted = timing.prompt_table(bundle, timing.prompts(5), 32)
    assert prompted.embeddings.shape == (5, bundle.max_tokens, bundle.text_width)
    assert timing.prompts(11)[10] == timing.prompts(1)[0] == "a photo of a airplane"


def test_ddis_paths_are_timed_and_updates_counted(bundle):
    classes = ["cat", "dog"]
    teacher = tiny_bn_teacher(num_classes=len(classes))
    config = SamplerConfig(steps=2, teacher_resolution=16)
    learned = timing.time_class_tokens(
        bundle, teacher, classes, config, CATConfig(epochs=2, accumulation=1, images_per_step=1, stop_share=1.0)
    )
    assert learned["seconds"] > 0 and learned["updates"] == {"cat": 2, "dog": 2}
    sampler = DDISSampler(bundle, classes, "ddis", teacher, learned["tokens"], config)
    before = spent("sampling")
    sampled = timing.time_ddis_sampling(sampler, images=3, batch=2)
    assert sampled["images"] == 3 and sampled["seconds"] > 0
    assert spent("sampling") - before >= sampled["seconds"]  # ddis_efficiency's job: sampling, not "other"
    di = preset_for(16)
    before = spent("deepinversion")
    measured = timing.time_deepinversion(
        teacher, 16, type(di)(**{**vars(di), "batch_size": 3}), iterations=2, num_classes=len(classes)
    )
    assert spent("deepinversion") - before >= measured["sec_per_iteration"] * 2
    assert measured["batch"] == 3 and measured["timed_iterations"] == 2 and measured["sec_per_iteration"] > 0


def test_a_notebooks_generator_load_counts_as_generator_once(tmp_path):
    """Figure 4 builds its SD-shaped models through the notebooks' cached loader: the jobs table counts that time
    under ``generator``, as the asset commands' loads, and a second load of the same weights is free."""
    folder = save_bundle(tiny_generator(resolution=16), tmp_path / "gen")
    run = type("Run", (), {"device": "cpu"})()
    before = spent("generator")
    first = load_bundle(run, str(folder))
    loaded = spent("generator")
    assert loaded > before
    assert load_bundle(run, str(folder)) is first and spent("generator") == loaded
