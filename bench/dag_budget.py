"""How long a scale's DAG keeps one GPU busy, estimated before spending GPU time on it.

Every GPU job of the DAG is costed from the rates that the committed benchmarks measured (``--bench``, default
``results/bench``), so a change of a scale's settings can be checked against its time budget on a laptop:

    shared assets (config/scales/<scale>.yaml)
      invert        images x inversion steps                   at the inversion bench's image-steps/s
      sample        images x per_image x steps x 2 UNet rows   at the sampling bench's UNet evaluations/s (DDIM)
      train         steps x batch x the model's FLOPs/image    at one training's achieved TFLOP/s (classifier bench)
      ddis token    classes x epochs x accumulation x batch    at the DDIS bench's seconds per class token
      ddis sample   images                                     at its seconds per DAG image
      ddis deepinversion  images x iterations                  at its seconds per DeepInversion image-iteration
    experiments' own classifier trainings
      counted in a finished run of a cheaper scale (``--counts``, e.g. results/smoke after the smoke DAG): each
      training a ``TrainingGrid`` recorded there (rows with ``trained_together``; one per model, not per test
      column) and each distilled student (``ddis_kd``), times the ratio of the scale's seeds to that run's, each
      of the scale's ``train_steps`` x ``batch_size`` images at the model's FLOPs/image, at the achieved TFLOP/s of
      the classifier bench's best grid (the experiments train grids side by side). Trainings recorded otherwise
      (the few-shot sweep of Figure 7a) are not counted.

FLOPs per image are counted (torch's flop counter, on the CPU) for each architecture, class count and resolution.
What is not costed: process start-up, data decoding and compilation of each job (tens of seconds each), the test
and validation evaluations, and the notebooks' own sampling and timing cells; an estimate is a floor.

    python bench/dag_budget.py --scale mini --counts results/smoke          # after `snakemake --cores all`
    python bench/dag_budget.py --scale mini --counts results/smoke --out /tmp/budget   # and a CSV of the jobs
"""

from __future__ import annotations

import argparse
import math
import sys
from functools import cache
from pathlib import Path

import pandas as pd

from repro.arguments import RATE
from repro.errors import ReproError

ROOT = Path(__file__).resolve().parents[1]
#: results columns that differ between the records of one training (its test columns; its validation rows differ
#: in ``table`` too, by VALIDATION_SUFFIX)
PER_RECORD = ("column", "value", "unit")
VALIDATION_SUFFIX = ", validation split"


def read_rates(bench: Path) -> dict[str, float]:
    """The measured rates the estimate uses, from the benchmark CSVs (best successful row of each)."""

    def table(name: str) -> pd.DataFrame:
        path = bench / name
        if not path.is_file():
            raise ReproError(f"{path} is missing: run bench/{name.split('_speed')[0]}_speed.py, or give --bench")
        frame = pd.read_csv(path)
        return frame[frame["status"] == "ok"] if "status" in frame else frame

    inversion = table("inversion_speed_mini.csv")
    sampling = table("sampling_speed_mini.csv")
    classifier = table("classifier_speed.csv")
    ddis = table("ddis_speed.csv").set_index("unit")
    token, deepinversion = ddis.loc["class token"], ddis.loc["DeepInversion image"]
    return {
        "inversion_image_steps_per_s": float(inversion[inversion["path"] == "ours"]["image_steps_per_second"].max()),
        "sampling_evals_per_s": float(sampling[sampling["scheduler"] == "ddim"]["unet_evaluations_per_second"].max()),
        "single_training_tflops": float(classifier[classifier["mode"] == "fast"]["achieved_tflops"].max()),
        "grid_tflops": float(classifier[classifier["trainings"] > 1]["achieved_tflops"].max()),
        # the bench learns each token for cat_epochs x cat_accumulation steps of cat_images_per_step images
        "token_seconds_per_image_step": float(token["seconds"]) / _bench_token_image_steps(token),
        "dag_image_seconds": float(ddis.loc["DAG image", "seconds"]),
        "deepinversion_image_iteration_seconds": float(deepinversion["seconds"])
        / float(deepinversion["updates_per_unit"]),
    }


def _bench_token_image_steps(token: pd.Series) -> float:
    """Image-steps behind one class token of the DDIS bench: its updates (epochs) times its images per update.
    A CSV from before the ``images_per_update`` column learned the bench's default 2 classes in one batch."""
    per_update = token.get("images_per_update")
    if per_update is None or pd.isna(per_update):
        per_update = float(token["batch"]) / 2
    return float(token["updates_per_unit"]) * float(per_update)


@cache
def flops_per_image(arch: str, classes: int, resolution: int) -> float:
    """Forward and backward FLOPs of one training image, counted once per model shape on the CPU."""
    from repro.experiments.timing import classifier_train_flops

    return classifier_train_flops(arch, classes, resolution)


def dataset_facts(name: str) -> tuple[int, int]:
    """(image side in px, classes) of a dataset of the registry."""
    from repro.data import dataset_spec

    spec = dataset_spec(name)
    classes = len(spec.classes) if spec.classes else 25  # the pool names its 25 classes by its files
    return int(spec.size), classes


def split_images(name: str, split: str, per_class=None) -> int:
    from repro.data import dataset_spec

    if per_class not in (None, "all"):
        return int(per_class) * dataset_facts(name)[1]
    return int(dataset_spec(name).expected[split])


def training_seconds(arch: str, dataset: str, steps: int, batch: int, tflops: float) -> float:
    resolution, classes = dataset_facts(dataset)
    return steps * batch * flops_per_image(arch, classes, resolution) / (tflops * 1e12)


def asset_rows(assets: dict, rates: dict[str, float]) -> list[dict]:
    """One estimate per shared asset of the scale: (what it computes, seconds) by its command."""
    inverted: dict[str, int] = {}  # inversion asset -> images, for the synthetic sets sampled from it

    def invert(args):
        images = inverted.setdefault(args["name"], split_images(args["dataset"], args["split"], args.get("per_class")))
        steps = args["inversion_steps"]
        return f"{images:,} images x {steps} steps", images * steps / rates["inversion_image_steps_per_s"]

    def sample(args):
        images = inverted[Path(args["embeddings"]).name] * args["per_image"]
        evals = images * args["inference_steps"] * 2  # conditional and unconditional rows
        return f"{images:,} images x {args['inference_steps']} steps", evals / rates["sampling_evals_per_s"]

    def train(args):
        arch, steps, batch = args["arch"], args["train_steps"], args["batch_size"]
        seconds = training_seconds(arch, args["train"].split(":")[0], steps, batch, rates["single_training_tflops"])
        return f"{arch}, {steps} steps x {batch}", seconds

    def token(args):
        classes = dataset_facts(args["dataset"])[1]
        image_steps = args["cat_max_epochs"] * args["cat_grad_accumulation"] * args["cat_batch"]
        seconds = classes * image_steps * rates["token_seconds_per_image_step"]
        return f"{classes} tokens x at most {image_steps} image-steps", seconds

    def dag_sample(args):
        images = args["images_per_class"] * dataset_facts(args["dataset"])[1]
        return f"{images:,} images", images * rates["dag_image_seconds"]

    def deepinversion(args):
        images = args["images_per_class"] * dataset_facts(args["dataset"])[1]
        iterations, batch = args["deepinversion_iterations"], args["deepinversion_batch"]
        seconds = math.ceil(images / batch) * batch * iterations * rates["deepinversion_image_iteration_seconds"]
        return f"{images:,} images x {iterations} iterations", seconds

    cost = {
        "invert": invert,
        "sample": sample,
        "train": train,
        "ddis token": token,
        "ddis sample": dag_sample,
        "ddis deepinversion": deepinversion,
    }
    rows = []
    for name, spec in assets.items():
        if spec["command"] not in cost:
            raise ReproError(f"asset {name}: no cost model for {spec['command']!r}; add one to bench/dag_budget.py")
        work, seconds = cost[spec["command"]]({**spec["args"], "name": name})
        rows.append({"job": f"assets/{name}", "kind": spec["command"], "work": work, "seconds": seconds})
    return rows


def trainings(results: pd.DataFrame) -> pd.DataFrame:
    """One row per classifier training among an experiment's result records (a training records one row per test
    column, and again for its validation split): the records that trained a model (``steps`` and ``arch``, or a
    distilled ``student``), with what varies per record dropped."""
    if "trained_together" in results:
        trained = results[results["trained_together"].notna()]
    elif "student" in results and "train_steps" in results:
        trained = results[results["train_steps"].notna()].assign(arch=lambda f: f["student"])
    else:
        return results.iloc[0:0]
    trained = trained.assign(table=trained["table"].str.removesuffix(VALIDATION_SUFFIX))
    return trained.drop(columns=[c for c in PER_RECORD if c in trained]).drop_duplicates()


def experiment_rows(counts: Path, scale: str, rates: dict[str, float]) -> list[dict]:
    """One estimate per experiment: its trainings counted in ``counts`` (a finished run of a cheaper scale),
    scaled to ``scale``'s seeds, steps and batch."""
    from repro.workflow.registry import load_bases, load_experiment

    folder = ROOT / "config" / "experiments"
    bases = load_bases(folder)
    rows = []
    for path in sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("_")):
        experiment = load_experiment(path, bases)
        if experiment.skip_reason(scale):
            continue
        found = counts / experiment.id / "results.csv"
        if not found.is_file():
            raise ReproError(f"{found} is missing: run the cheaper scale's DAG first (snakemake --cores all)")
        counted = trainings(pd.read_csv(found))
        params = experiment.params(scale)
        if counted.empty or "train_steps" not in params:
            continue
        seeds_then = counted["seed"].nunique()
        factor = len(params["seeds"]) / max(1, seeds_then)
        seconds = sum(
            training_seconds(arch, dataset, params["train_steps"], params["batch_size"], rates["grid_tflops"])
            for arch, dataset in zip(counted["arch"], counted["dataset"])
        )
        n = round(len(counted) * factor)
        work = f"{n} trainings x {params['train_steps']} steps x {params['batch_size']}"
        rows.append({"job": experiment.id, "kind": "classifier trainings", "work": work, "seconds": seconds * factor})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="mini", help="the scale whose settings are costed (default mini)")
    parser.add_argument("--counts", required=True, help="results folder of a finished cheaper run (results/smoke)")
    parser.add_argument("--bench", default=str(ROOT / "results" / "bench"), help="the benchmark CSVs")
    parser.add_argument("--budget-minutes", type=RATE, default=20.0, help="the scale's GPU budget (default 20)")
    parser.add_argument("--out", help="folder for dag_budget.csv, one row per job")
    args = parser.parse_args(argv)
    try:
        from repro.workflow.registry import load_scale

        rates = read_rates(Path(args.bench))
        assets = load_scale(ROOT / "config", args.scale).get("assets", {})
        rows = asset_rows(assets, rates) + experiment_rows(Path(args.counts), args.scale, rates)
    except ReproError as err:
        parser.exit(2, f"dag_budget: error: {err}\n")
    jobs = pd.DataFrame(rows).assign(minutes=lambda f: f["seconds"] / 60).sort_values("seconds", ascending=False)
    total = jobs["minutes"].sum()
    with pd.option_context("display.max_rows", None, "display.width", 160, "display.max_colwidth", 60):
        print(jobs[["job", "kind", "work", "minutes"]].round(2).to_string(index=False))
    print()
    print(jobs.groupby("kind")["minutes"].sum().sort_values(ascending=False).round(1).to_string())
    verdict = "within" if total <= args.budget_minutes else "over"
    print(f"\n{args.scale}: {total:.1f} GPU minutes at the measured rates, {verdict} its {args.budget_minutes:g}")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        jobs.to_csv(Path(args.out) / "dag_budget.csv", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
