"""The notebooks' toolbox: the run context, shared assets, the protocol's image sets, claims helpers, plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from repro.classifiers import Pool, TrainingData
from repro.errors import ReproError
from repro.experiments import ExperimentRun, Synthetic, real_subset, training_split
from repro.experiments.assets import Assets
from repro.experiments.classify import fitted_batch, recipe_for
from repro.experiments.plots import bars, curves
from repro.experiments.run import PARTIAL_CSV
from repro.files import ARGUMENTS_FILE
from repro.generators.bundle import MINI_ENV, mini_checkpoint, mini_dir
from repro.sampling import SyntheticWriter
from tests.conftest import CONFIG_DIR


def make_run(tmp_path, **params) -> ExperimentRun:
    return ExperimentRun(
        "di_fig6_real_scaling",
        "smoke",
        tmp_path / "out",
        params,
        device="cpu",
        work_dir=tmp_path / "work",
        config_dir=CONFIG_DIR,
    )


def injected(tmp_path) -> tuple[dict, dict]:
    """The registry's smoke params of Figure 6 and a notebook namespace its runner would have injected them into."""
    from repro.workflow.registry import load_registry

    params = load_registry(CONFIG_DIR)["di_fig6_real_scaling"].params("smoke")
    namespace = {
        "experiment": "di_fig6_real_scaling",
        "scale": "smoke",
        "out_dir": str(tmp_path),
        "data_root": "",
        "work_dir": str(tmp_path / "work"),
        "device": "cpu",
        "config_dir": str(CONFIG_DIR),
        **params,
        "unrelated": 1,
    }
    return params, namespace


def test_from_globals_reads_the_registry_params_and_names_a_missing_one(tmp_path):
    params, namespace = injected(tmp_path)
    run = ExperimentRun.from_globals(namespace, dataset_param="per_image")
    assert run.params == params and run.work_dir == tmp_path / "work"
    assert run.record(table="t", row="r", column="c", value=1.0)["dataset"] == str(params["per_image"])
    del namespace["per_image"]
    with pytest.raises(
        ReproError,
        match=r"gives \['per_image'\] at scale smoke, which were not injected: run it "
        r"with `repro run di_fig6_real_scaling --scale smoke`",
    ):
        ExperimentRun.from_globals(namespace)
    bare = {**namespace, "config_dir": ""}  # the parameters cell alone: a notebook opened without its runner
    with pytest.raises(ReproError, match=r"not given its parameters .*`repro notebook di_fig6_real_scaling --scale"):
        ExperimentRun.from_globals(bare)


def test_a_notebooks_rows_name_the_generator_weights_they_were_computed_with(tmp_path, monkeypatch):
    from repro.generators.bundle import generator_fingerprint

    params, namespace = injected(tmp_path)
    assert params["generator"] == "mini"
    committed = ExperimentRun.from_globals(namespace).record(table="t", row="r", column="c", value=1.0)
    assert committed["generator"] == f"mini ({generator_fingerprint('mini')})"
    # the same short name pointed at other weights: the rows say so
    other = tmp_path / "other_mini"
    (other / "unet").mkdir(parents=True)
    (other / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"other weights")
    monkeypatch.setenv(MINI_ENV, str(other))
    retrained = ExperimentRun.from_globals(namespace).record(table="t", row="r", column="c", value=1.0)
    assert retrained["generator"].startswith("mini (") and retrained["generator"] != committed["generator"]


def test_rows_are_kept_while_recording_and_published_on_save(tmp_path):
    run = make_run(tmp_path)
    run.record(table="Figure 6", row="a", column="Real", value=10.0, unit="%", seed=0, method="Real")
    run.record(table="Figure 6", row="a", column="Real", value=20.0, unit="%", seed=1, method="Real")
    assert (run.out_dir / PARTIAL_CSV).exists() and not (run.out_dir / "results.csv").exists()
    assert run.mean("Figure 6", row="a") == 15.0 and run.mean("Figure 6", method="Real", seed=1) == 20.0
    with pytest.raises(KeyError):
        run.mean("Figure 6", column="Diffusion Inversion")
    run.claim("beats_real_low_data", False, "Real 15.0")
    run.save()
    assert not (run.out_dir / PARTIAL_CSV).exists()
    assert len(pd.read_csv(run.out_dir / "results.csv")) == 2
    assert pd.read_csv(run.out_dir / "claims.csv")["holds"].tolist() == [False]


def test_a_missing_asset_says_how_to_build_it(tmp_path):
    with pytest.raises(ReproError, match=r"inversion_cifar10.*snakemake --cores all .*assets/inversion_cifar10`"):
        Assets(tmp_path, "smoke").path("inversion_cifar10")


def test_checked_asset_compares_the_recorded_settings(tmp_path):
    folder = tmp_path / "assets" / "inversion_cifar10"
    folder.mkdir(parents=True)
    assets = Assets(tmp_path, "smoke")
    agreeing = {
        "generator": "mini",
        "inversion_steps": 4,
        "inversion_lr": 0.03,
        "resolution": 64,
        "checkpoints": [2, 4],
    }
    with pytest.raises(ReproError, match=r"inversion_cifar10.* has no arguments.json.*rebuild it"):
        assets.checked("inversion_cifar10", agreeing)
    (folder / ARGUMENTS_FILE).write_text('{"inversion_steps": 4, "checkp')  # cut short
    with pytest.raises(ReproError, match=r"asset record .*arguments.json is damaged.*rebuild the asset"):
        assets.checked("inversion_cifar10", agreeing)
    (folder / ARGUMENTS_FILE).write_text(
        json.dumps(
            {
                "generator": "mini",
                "inversion_steps": 4,
                "checkpoints": [2, 4],
                "inversion_lr": 0.03,
                "resolution": 64,
                "seed": 0,
            }
        )
    )
    assert assets.checked("inversion_cifar10", agreeing) == folder
    with pytest.raises(ReproError, match=r"inversion_steps = 8 but the asset has inversion_steps = 4.*rebuild the"):
        assets.checked("inversion_cifar10", {**agreeing, "inversion_steps": 8})
    with pytest.raises(ReproError, match=r"checkpoints \[3\]"):
        assets.checked("inversion_cifar10", {**agreeing, "checkpoints": [3, 4]})


def write_synthetic(folder, per_image=3, sources=("a", "b", "c")) -> Synthetic:
    n = per_image * len(sources)
    writer = SyntheticWriter(
        folder, {"classes": ["x", "y"], "resolution": 4, "config": {"per_image": per_image}, "config_hash": "h"}, [n]
    )
    source = np.repeat(np.arange(len(sources)), per_image)
    images = np.zeros((n, 4, 4, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(n)
    writer.write(
        0,
        images,
        source % 2,
        {
            "source_index": source,
            "source_id": np.array(sources)[source],
            "partner_index": np.full(n, -1),
            "variant": np.tile(np.arange(per_image), len(sources)),
            "w": np.ones(n),
            "lam": np.zeros(n),
            "alpha": np.zeros(n),
            "checkpoint": np.ones(n, np.int64),
            "seed": np.arange(n),
        },
    )
    return Synthetic(folder)


def test_loading_a_synthetic_set_counts_as_data(tmp_path, monkeypatch):
    """A notebook's reads of its synthetic sets are a phase of its jobs-table row, not the unexplained rest."""
    import repro.provenance as provenance

    monkeypatch.setattr(provenance, "_phases", {})
    write_synthetic(tmp_path / "syn")
    assert set(provenance.phase_seconds()) == {"data"}


def test_synthetic_subset_keeps_chosen_sources_and_first_variants(tmp_path):
    synthetic = write_synthetic(tmp_path / "syn")
    part = synthetic.subset(["a", "c"], variants=2)
    assert part.images[:, 0, 0, 0].tolist() == [0, 1, 6, 7] and part.labels.tolist() == [0, 0, 0, 0]
    assert len(synthetic.subset()) == 9
    assert synthetic.subset(["b"], resolution=8).images.shape == (3, 8, 8, 3)
    with pytest.raises(ReproError, match="no variants of 1"):
        synthetic.subset(["a", "zzz"])
    with pytest.raises(ReproError, match="3 variants per image, fewer than 4"):
        synthetic.subset(variants=4)


def test_training_split_and_real_subsets():
    assert training_split("cifar10", "mini") == "target" and training_split("cifar10", "paper") == "train"
    assert training_split("pacs_sketch", "smoke") == "train"
    from repro.data import ImageSet

    labels = np.repeat([0, 1], 10)
    train = ImageSet(np.zeros((20, 2, 2, 3), np.uint8), labels, ["x", "y"], [str(i) for i in range(20)], "t")
    half, tenth = real_subset(train, 0.5, seed=3), real_subset(train, 0.1, seed=3)
    assert half.class_counts().tolist() == [5, 5] and tenth.class_counts().tolist() == [1, 1]
    assert set(tenth.ids) <= set(half.ids)  # nested for one seed: the points of a curve are comparable


def test_recipes_and_batches_follow_the_paper_and_the_data():
    assert recipe_for("cifar10", 100, 128).optimizer == "sgd"
    assert recipe_for("pathmnist", 100, 128).optimizer == "adamw"
    tiny = TrainingData(real=Pool(np.zeros((7, 4, 4, 3), np.uint8), np.arange(7) % 7, [str(i) for i in range(7)]))
    assert fitted_batch(tiny, 128) == 7


def test_figures_are_drawn_from_recorded_rows(tmp_path):
    run = make_run(tmp_path)
    for seed in (0, 1):
        for n in (10, 20):
            run.record(table="Figure 6", row=n, column="Real", value=n + seed, seed=seed, method="Real", size=n)
    assert curves(run, table="Figure 6", x="size", series="method", name="fig").stat().st_size > 0
    assert bars(run, table="Figure 6", name="bars").exists()
    with pytest.raises(ValueError, match="no rows recorded for table 'Table 1'"):
        curves(run, table="Table 1", x="size", name="none")


def test_mini_generator_folder_can_be_redirected(tmp_path, monkeypatch):
    monkeypatch.setenv(MINI_ENV, str(tmp_path / "mini"))
    assert mini_dir() == (tmp_path / "mini").resolve()
    (tmp_path / "mini_checkpoints").mkdir()
    (tmp_path / "mini_checkpoints" / "unet_010.safetensors").write_bytes(b"")
    assert mini_checkpoint(0.1).name == "unet_010.safetensors"
    with pytest.raises(ReproError, match=r"30% of pretraining.*unet_010"):
        mini_checkpoint(0.3)
    from repro.generators import load_generator

    with pytest.raises(ReproError, match="REPRO_MINI_GENERATOR"):
        load_generator("mini")


def test_claims_must_be_the_registrys_and_may_be_undecided(tmp_path):
    from repro.results.tables import artifact_status
    from repro.workflow.registry import load_registry

    run = make_run(tmp_path)
    run.record(table="Figure 6", row="a", column="Real", value=1.0)
    with pytest.raises(ReproError, match="not in config/experiments/di_fig6_real_scaling.yaml"):
        run.claim("made_up", True, "")
    run.claim("beats_real_low_data", True, "DI 2 > real 1")
    run.claim("sample_complexity_2_3x", None, "needs two sizes")
    run.save()
    status = artifact_status(load_registry(CONFIG_DIR)["di_fig6_real_scaling"], "smoke", run.out_dir)
    assert status.label == "reproduced" and status.detail == "1 of 1 decided claims hold; 1 undecided at this scale"


def test_report_rows_keep_the_recorded_order_then_the_papers():
    from repro.results.tables import beside_paper, summarise
    from repro.workflow.registry import Experiment

    spec = {
        "paper_numbers": [
            {"table": "T", "row": "z", "column": "c", "value": 1.0, "where": "x"},
            {"table": "T", "row": "b", "column": "c", "value": 2.0, "where": "x"},
            {"table": "T", "row": "a", "column": "c", "value": 3.0, "where": "x"},
        ]
    }
    ours = summarise(
        pd.DataFrame(
            {
                "table": ["T"] * 3,
                "row": ["r64", "r128", "b"],
                "column": ["c"] * 3,
                "value": [1.0, 2.0, 3.0],
                "unit": ["%"] * 3,
            }
        )
    )
    table = beside_paper(Experiment("x", spec, root=CONFIG_DIR.parent), ours)
    assert table["row"].tolist() == ["r64", "r128", "b", "z", "a"]
    assert table.loc[table["row"] == "b", "paper"].item() == 2.0


def test_scratch_folders_are_named_by_what_decides_their_content(tmp_path):
    run = make_run(tmp_path)
    plain = run.scratch("tokens")
    a, again, b = (run.scratch("sample", {"guidance": g}) for g in (2, 2, 4))
    assert plain == tmp_path / "work" / "di_fig6_real_scaling" / "tokens" and plain.is_dir()
    assert a == again != b and a.name.startswith("sample-")


def test_an_empty_synthetic_set_loads_as_empty_arrays(tmp_path):
    writer = SyntheticWriter(tmp_path / "empty", {"classes": ["x"], "resolution": 4, "config_hash": "h"}, [])
    assert writer.counts == []
    synthetic = Synthetic(tmp_path / "empty")
    assert len(synthetic) == 0 and synthetic.subset().images.shape == (0, 4, 4, 3)


def test_an_asset_made_with_other_generator_weights_is_refused(tmp_path, monkeypatch):
    from repro.fingerprint import folder_fingerprint

    model = tmp_path / "mini"
    (model / "unet").mkdir(parents=True)
    (model / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"v1")
    monkeypatch.setenv(MINI_ENV, str(model))
    folder = tmp_path / "assets" / "inversion_cifar10"
    folder.mkdir(parents=True)
    (folder / ARGUMENTS_FILE).write_text(
        json.dumps(
            {"generator": "mini", "weights": folder_fingerprint(model), "inversion_steps": 4, "inversion_lr": 0.03}
        )
    )
    assets = Assets(tmp_path, "smoke")
    params = {"generator": "mini", "inversion_steps": 4}
    assert assets.checked("inversion_cifar10", params) == folder
    (model / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"v2")  # retrained
    with pytest.raises(ReproError, match="other weights of generator 'mini'"):
        assets.checked("inversion_cifar10", params)
