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
      column) and each distilled student (``ddis_kd``), times its multiplier: the product, over every grid axis it
      records a value of (AXES: the seeds, synthetic sizes, architectures, augmentations, mixing ratios, ..., every
      key of ``sweep``), of the axis's number of values at the scale over that at the counted run's scale. A
      training that records no value of an axis (the Real baseline of a size sweep) or holds one whatever the
      list (HELD: a size or seed held fixed, a threshold chosen on a validation split) is not multiplied by it.
      Each of the scale's ``train_steps`` x ``batch_size`` images at the counted model's FLOPs/image (the values
      an axis adds, an architecture or a dataset, cost what the counted ones do), at the achieved TFLOP/s of the
      classifier bench's best grid (the experiments train grids side by side). Trainings recorded otherwise (the
      few-shot sweep of Figure 7a) are not counted.

    experiments' own sampling
      the sweep notebooks' synthetic sets (``repro.experiments.sweeps.train_sweep``: Figures 8a-8d): for each
      setting of the experiment's ``sweep`` and each seed, as many variants of each training image (the validation
      split carved off) as its largest synthetic size (or ``per_image``), at the setting's inference steps and two
      UNet rows per step where it guides, at the sampling bench's UNet evaluations/s. A notebook's trainings and
      its sampling are one job of the workflow: compared with a measured run, its rows count together.

    experiments that measure run time (``timed: true``)
      each runs alone on the GPU (the workflow gives it every GPU slot), so its minutes add to a run's wall time
      whatever the jobs at once: ddis_efficiency at the DDIS bench's rates (its timed class tokens at most their
      epoch budget, its timed DAG images and warm-up batch, its DeepInversion batch for the timed iterations and
      a warm-up one); another timed experiment is named, not costed (di_fig4_runtime: the SD-shaped generator
      has no committed bench rate).

FLOPs per image are counted (torch's flop counter, on the CPU) for each architecture, class count and resolution.
What is not costed: process start-up, data decoding and compilation of each job (tens of seconds each), the test
and validation evaluations, the other notebooks' own sampling (Figure 1's guidance sensitivity, Figure 5's
generators, LECF's sets, DDIS's ablation and quality sets) and the timing cells; an estimate is a floor.

    python bench/dag_budget.py --scale mini --counts results/smoke          # after `snakemake --cores all`
    python bench/dag_budget.py --scale mini --counts results/smoke --out /tmp/budget   # and a CSV of the jobs

How far the floor is from a real run: ``--measured`` names a jobs table of a run of the scale (``jobs.csv``, which
``repro jobs`` gathers from the workflow's benchmarks) and prints, after the estimate, each measured job's wall
minutes beside its estimate (their ratio, and the excess in seconds: measured minus estimate), then per kind the
measured over the estimated minutes and the median excess of a job. A job's wall time is all of it: start-up,
compilation, evaluations, and, where the run let several jobs share the GPU, its waiting for the others (the header
gives the run's mean number of jobs at once: its jobs' summed time over its wall time). Jobs of the table that the
estimate does not cost (an experiment that counts no classifier training) are named, not compared. Last, the whole
scale projected from that run: every job's estimate plus its kind's median excess, in job-minutes, and over the
run's mean number of jobs at once, in minutes of wall time against the budget (a kind the run did not measure, such
as the notebooks' trainings, counts at its estimate alone: for it the projection is still a floor).

    python bench/dag_budget.py --scale mini --counts results/smoke --measured results/mini/jobs.csv
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
#: the grid axes the experiments' trainings sweep: param -> the results column that records a training's value of it
#: (the first of these its trainings have: the notebooks name the synthetic size three ways). Every key of a
#: ``sweep`` is an axis too, recorded under its own name; a dict-valued axis (a student per dataset) counts its keys.
AXES = {
    "seeds": ("seed",),
    "synthetic_sizes": ("synthetic_size", "size", "multiple"),
    "real_fractions": ("fraction",),
    "pretrain_fractions": ("pretrain_fraction",),
    "vae_resolutions": ("generator_resolution",),
    "archs": ("arch",),
    "augmentations": ("augment",),
    "ratios": ("ratio",),
    "knn_k": ("k",),
    "lecf_thresholds": ("threshold",),
    "datasets": ("dataset",),
    "students": ("dataset",),
}
#: trainings that record an axis's value without sweeping the axis, by experiment: column -> which of them (or of
#: the reused cells). Their value is held or chosen, one whatever the scale's list, so that axis does not multiply
#: them.
HELD = {
    # the real set (recorded as 1x) and the guidance-sensitivity sets (the smallest size only) beside DI's sizes
    "di_fig1_synthetic_scaling": {"multiple": lambda t: t["method"] != "Diffusion Inversion"},
    # the DI row is at the generator's own resolution; the Real rows sweep the VAE round trip's
    "di_table1_vae_information_loss": {"generator_resolution": lambda t: t["row"] == "Diffusion Inversion"},
    "di_fig7b_lecf_scaling": {
        # the threshold selection trains each candidate once: at the smallest size, with the first seed
        "size": lambda t: t["table"] != "Figure 7b",
        "seed": lambda t: t["table"] != "Figure 7b",
        # the curves' LECF sets all use the one threshold chosen on the validation split
        "threshold": lambda t: t["table"] == "Figure 7b",
    },
}


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


def class_tokens_cost(params: dict, classes: int, rates: dict[str, float]) -> tuple[str, float]:
    """``classes`` class tokens learned with ``params``' CAT settings, each at most its epoch budget (CAT stops
    early at ``cat_stop_accuracy``), at the DDIS bench's seconds per image-step."""
    image_steps = params["cat_max_epochs"] * params["cat_grad_accumulation"] * params["cat_batch"]
    seconds = classes * image_steps * rates["token_seconds_per_image_step"]
    return f"{classes} tokens x at most {image_steps} image-steps", seconds


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
        return class_tokens_cost(args, dataset_facts(args["dataset"])[1], rates)

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


def reused_cells(results: pd.DataFrame) -> pd.DataFrame:
    """The records of a cell that no training of its own filled: Figure 7b's LECF point at the smallest size and
    first seed is the threshold selection's classifier at the chosen threshold (``from_selection``)."""
    if "from_selection" not in results:
        return results.iloc[0:0]
    return results[results["from_selection"].eq(True)]


def axis_lengths(params: dict) -> dict[str, int]:
    """The number of values of each grid axis in an experiment's params (a dict-valued axis counts its keys)."""
    axes = {param: params[param] for param in AXES if param in params}
    axes.update(params.get("sweep") or {})
    return {param: len(values) for param, values in axes.items()}


def multipliers(experiment: str, counted: pd.DataFrame, then: dict, now: dict) -> pd.Series:
    """How many trainings of the target scale each training ``counted`` at the cheaper scale stands for: the product,
    over every grid axis it records a value of, of the axis's number of values at the target scale (``now``, the
    experiment's params there) over that at the counted scale (``then``). The seeds are one of these axes."""
    held = HELD.get(experiment, {})
    factor = pd.Series(1.0, index=counted.index)
    lengths_then, lengths_now = axis_lengths(then), axis_lengths(now)
    for param in lengths_then.keys() & lengths_now.keys():
        column = next((c for c in AXES.get(param, (param,)) if c in counted), None)  # a sweep key: its own name
        if column is None:
            continue
        sweeps = counted[column].notna()  # a baseline outside the axis (the Real row of a size sweep) has no value
        if column in held:
            fixed = held[column](counted)
            if not fixed.any():  # a notebook's labels changed under HELD
                raise ReproError(f"{experiment}: HELD[{column!r}] in bench/dag_budget.py matches none of its trainings")
            sweeps &= ~fixed
        factor[sweeps] *= lengths_now[param] / lengths_then[param]
    return factor


def experiment_rows(experiments, counts: Path, scale: str, rates: dict[str, float]) -> list[dict]:
    """One estimate per experiment: its trainings counted in ``counts`` (a finished run of a cheaper scale),
    scaled to ``scale``'s grid axes (seeds included), steps and batch."""
    rows = []
    for experiment in experiments:
        if experiment.skip_reason(scale):
            continue
        found = counts / experiment.id / "results.csv"
        if not found.is_file():
            raise ReproError(f"{found} is missing: run the cheaper scale's DAG first (snakemake --cores all)")
        results = pd.read_csv(found)
        counted = trainings(results)
        params = experiment.params(scale)
        if counted.empty or "train_steps" not in params:
            continue
        if "scale" not in counted or counted["scale"].nunique() != 1:
            raise ReproError(f"{found}: its trainings name no single scale (the `scale` column)")
        counted_scale = counted["scale"].iloc[0]
        then = experiment.params(counted_scale)
        cells = pd.concat([counted.assign(reused=False), reused_cells(results).assign(reused=True)])
        # a reused cell was not trained at the counted scale; at ``scale`` it stands for as many cells as a
        # training would, all trained but itself (the selection's classifier still fills it)
        scaled = cells.assign(trainings=multipliers(experiment.id, cells, then, params) - cells["reused"])
        seconds = sum(
            n * training_seconds(arch, dataset, params["train_steps"], params["batch_size"], rates["grid_tflops"])
            for n, arch, dataset in zip(scaled["trainings"], scaled["arch"], scaled["dataset"])
        )
        n = round(scaled["trainings"].sum())
        work = f"{n} trainings x {params['train_steps']} steps x {params['batch_size']}"
        rows.append(
            {
                "job": experiment.id,
                "kind": "classifier trainings",
                "counted": f"{len(counted)} at {counted_scale}",
                "trainings": n,
                "work": work,
                "seconds": seconds,
            }
        )
    return rows


def sweep_rows(experiments, scale: str, rates: dict[str, float]) -> list[dict]:
    """One estimate per experiment with a ``sweep``: the synthetic sets its notebook samples for every setting and
    seed (``train_sweep``), in UNet evaluations at the sampling bench's rate."""
    from repro.experiments.protocol import training_split
    from repro.experiments.sweeps import expand

    rows = []
    for experiment in experiments:
        params = experiment.params(scale)
        if experiment.skip_reason(scale) or not params.get("sweep"):
            continue
        dataset = params["dataset"]
        images = split_images(dataset, training_split(dataset, scale), params.get("per_class"))
        images = round(images * (1 - params.get("validation_fraction", 0)))  # the fit part, where one is carved
        variants = images * max(params.get("synthetic_sizes") or [params["per_image"]])
        settings, seeds = expand(params, dataset), len(params["seeds"])
        evals = 0.0
        for setting in settings:
            guidance = setting.sampling["guidance"]
            guided = any(g > 0 for g in (guidance if isinstance(guidance, (list, tuple)) else [guidance]))
            evals += seeds * variants * setting.sampling["inference_steps"] * (2 if guided else 1)
        work = f"{len(settings) * seeds} sets x {variants:,} images"
        rows.append(
            {
                "job": experiment.id,
                "kind": "notebook sampling",
                "work": work,
                "seconds": evals / rates["sampling_evals_per_s"],
            }
        )
    return rows


def timed_rows(experiments, scale: str, rates: dict[str, float]) -> tuple[list[dict], list[str]]:
    """One estimate per experiment that measures run time and has a cost model here (TIMED_COSTS), and the ids of
    the timed experiments without one."""
    rows, uncosted = [], []
    for experiment in experiments:
        if experiment.skip_reason(scale) or not experiment.timed:
            continue
        if experiment.id not in TIMED_COSTS:
            uncosted.append(experiment.id)
            continue
        work, seconds = TIMED_COSTS[experiment.id](experiment.params(scale), rates)
        rows.append({"job": experiment.id, "kind": TIMED, "work": work, "seconds": seconds})
    return rows, uncosted


def ddis_efficiency_cost(params: dict, rates: dict[str, float]) -> tuple[str, float]:
    """What ddis_efficiency times for each seed: its first ``timed_classes`` class tokens, ``timed_images`` DAG
    images after a warm-up batch, and one DeepInversion batch for ``timed_steps`` iterations after a warm-up one."""
    from repro.ddis import SAMPLE_BATCH

    images, steps, batch = params["timed_images"], params["timed_steps"], params["deepinversion_batch"]
    seeds = len(params["seeds"])
    work, tokens = class_tokens_cost(params, params["timed_classes"], rates)
    sampling = (images + min(SAMPLE_BATCH, images)) * rates["dag_image_seconds"]
    deepinversion = (steps + 1) * batch * rates["deepinversion_image_iteration_seconds"]
    work = f"{seeds} seeds x ({work}; {images} DAG images; {steps} x {batch} DeepInversion)"
    return work, seeds * (tokens + sampling + deepinversion)


#: the workflow runs a timed experiment alone on the GPU
TIMED = "timed, alone"
TIMED_COSTS = {"ddis_efficiency": ddis_efficiency_cost}


def per_job(estimates: pd.DataFrame) -> pd.DataFrame:
    """One row per job of the workflow: a notebook's trainings and its own sampling are one job (its kind names
    both)."""
    return estimates.groupby("job", as_index=False, sort=False).agg(
        kind=("kind", " + ".join), work=("work", "; ".join), seconds=("seconds", "sum"), minutes=("minutes", "sum")
    )


def read_measured(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A run's jobs table (``repro jobs``): its job rows, named as this script names them (an asset as
    ``assets/<name>``), and its closing lines by kind (``total``: the jobs' summed time, ``run``: its wall time)."""
    from repro.report.jobs import read_jobs

    if not path.is_file():
        raise ReproError(f"{path} is missing: --measured names a run's jobs.csv (repro jobs --scale <scale>)")
    jobs, closing = read_jobs(path)
    names = jobs["job"].where(jobs["kind"] != "asset", "assets/" + jobs["job"])
    return jobs.assign(job=names), closing


def compare_measured(estimates: pd.DataFrame, measured: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each measured job that has an estimate: its estimated and measured minutes, their ratio and the excess
    (measured minus estimated seconds); and per kind of estimate, the jobs' summed minutes, their ratio and the
    median excess of one job."""
    both = per_job(estimates).merge(measured[["job", "wall_s"]], on="job", how="inner", validate="one_to_one")
    both = both.assign(
        measured=both["wall_s"] / 60,
        ratio=both["wall_s"] / both["seconds"],
        excess_s=both["wall_s"] - both["seconds"],
    ).sort_values(["kind", "measured"], ascending=[True, False], ignore_index=True)
    kinds = both.groupby("kind").agg(
        jobs=("job", "size"), minutes=("minutes", "sum"), measured=("measured", "sum"), excess_s=("excess_s", "median")
    )
    kinds = kinds.assign(ratio=kinds["measured"] / kinds["minutes"]).sort_values("measured", ascending=False)
    return both, kinds[["jobs", "minutes", "measured", "ratio", "excess_s"]]


def project(estimates: pd.DataFrame, kinds: pd.DataFrame, at_once: float) -> tuple[float, float, list[str]]:
    """The whole scale's jobs as a measured run would take them: each job of a kind the run measured at its estimate
    plus its kind's median excess (start-up, compilation, sharing the GPU), summed in job-minutes and spread over
    ``at_once`` (the run's mean number of jobs at once); each job of a kind it did not measure at its estimate, a
    floor at the whole GPU's rate that jobs at once cannot shorten, and each timed job (which runs alone), added
    after. Returns the job-minutes of all, the minutes of wall time, and the kinds the run did not measure."""
    jobs = per_job(estimates)
    measured = jobs["kind"].isin(kinds.index)
    excess = jobs["kind"].map(kinds["excess_s"]).fillna(0.0)
    alone = ~measured | jobs["kind"].str.contains(TIMED, regex=False)  # a timed notebook may train too
    shared = float((jobs["seconds"] + excess)[~alone].sum() / 60)
    after = float((jobs["seconds"] + excess)[alone].sum() / 60)
    return shared + after, shared / at_once + after, sorted(set(jobs["kind"][~measured]))


def concurrency(closing: pd.DataFrame) -> float | None:
    """A measured run's mean number of jobs at once: its jobs' summed time over its wall time."""
    if {"total", "run"} <= set(closing.index) and closing.loc["run", "wall_s"] > 0:
        return float(closing.loc["total", "wall_s"] / closing.loc["run", "wall_s"])
    return None


def print_measured(
    estimates: pd.DataFrame, measured: pd.DataFrame, closing: pd.DataFrame, path: str, budget: float
) -> None:
    """The measured jobs beside their estimates, the same per kind, the jobs the estimate does not cost, and the
    whole scale projected from the run."""
    both, kinds = compare_measured(estimates, measured)
    header = f"measured: {len(measured)} jobs of {path}"
    at_once = concurrency(closing)
    if at_once is not None:
        total, run = closing.loc["total", "wall_s"] / 60, closing.loc["run", "wall_s"] / 60
        header += (
            f", {at_once:.1f} running at once on average (their {total:.1f} min over the run's {run:.1f}): "
            "a job's wall time includes its start-up and its waiting for the jobs that shared the GPU with it"
        )
    print(header)
    uncosted = measured[~measured["job"].isin(estimates["job"])]
    names = ", ".join(f"{j} ({k})" for j, k in zip(uncosted["job"], uncosted["kind"]))
    if both.empty:
        print(f"none of its jobs is costed by this estimate: {names}")
        return
    shown = both.rename(columns={"minutes": "estimate"}).round({"estimate": 2, "measured": 2, "ratio": 1})
    shown = shown.assign(excess_s=shown["excess_s"].round().astype(int))  # whole seconds
    columns = ["job", "kind", "work", "estimate", "measured", "ratio", "excess_s"]
    with pd.option_context("display.max_rows", None, "display.width", 160, "display.max_colwidth", 60):
        print(shown[columns].to_string(index=False))
        print()
        print(kinds.rename(columns={"minutes": "estimate", "excess_s": "median excess_s"}).round(1).to_string())
    estimate, wall = both["minutes"].sum(), both["measured"].sum()
    print(f"\n{len(both)} jobs: {wall:.1f} minutes measured, {estimate:.1f} estimated ({wall / estimate:.1f}x)")
    if len(uncosted):
        print(f"not costed by this estimate: {names}")
    if at_once is not None:
        job_minutes, wall, unmeasured = project(estimates, kinds, at_once)
        verdict = "within" if wall <= budget else "over"
        print(
            f"\nprojected from this run: all {len(per_job(estimates))} jobs, each its estimate plus its kind's median "
            "excess, "
            f"{job_minutes:.1f} job-minutes; at its {at_once:.1f} jobs at once about {wall:.1f} minutes of wall time, "
            f"{verdict} the budget of {budget:g}"
            + (
                f" (at their estimate alone, one after another, not measured: {', '.join(unmeasured)})"
                if unmeasured
                else ""
            )
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="mini", help="the scale whose settings are costed (default mini)")
    parser.add_argument("--counts", required=True, help="results folder of a finished cheaper run (results/smoke)")
    parser.add_argument("--bench", default=str(ROOT / "results" / "bench"), help="the benchmark CSVs")
    parser.add_argument("--budget-minutes", type=RATE, default=20.0, help="the scale's GPU budget (default 20)")
    parser.add_argument("--out", help="folder for dag_budget.csv, one row per job")
    parser.add_argument(
        "--measured", metavar="JOBS_CSV", help="a run's jobs table (repro jobs): its wall times beside the estimates"
    )
    args = parser.parse_args(argv)
    try:
        from repro.workflow.registry import load_registry, load_scale

        measured = read_measured(Path(args.measured)) if args.measured else None
        rates = read_rates(Path(args.bench))
        assets = load_scale(ROOT / "config", args.scale).get("assets", {})
        experiments = load_registry(ROOT / "config").values()
        rows = asset_rows(assets, rates) + experiment_rows(experiments, Path(args.counts), args.scale, rates)
        rows += sweep_rows(experiments, args.scale, rates)
        timed, uncosted = timed_rows(experiments, args.scale, rates)
        rows += timed
    except ReproError as err:
        parser.exit(2, f"dag_budget: error: {err}\n")
    jobs = pd.DataFrame(rows).assign(minutes=lambda f: f["seconds"] / 60).sort_values("seconds", ascending=False)
    total = jobs["minutes"].sum()
    shown = jobs.assign(counted=jobs.get("counted", pd.Series(dtype=str)).fillna(""))  # trainings: experiments only
    with pd.option_context("display.max_rows", None, "display.width", 160, "display.max_colwidth", 60):
        print(shown[["job", "kind", "counted", "work", "minutes"]].round(2).to_string(index=False))
    print()
    print(jobs.groupby("kind")["minutes"].sum().sort_values(ascending=False).round(1).to_string())
    verdict = "within" if total <= args.budget_minutes else "over"
    print(f"\n{args.scale}: {total:.1f} GPU minutes at the measured rates, {verdict} its {args.budget_minutes:g}")
    if uncosted:
        print(f"not costed, each running alone on the GPU as well: {', '.join(uncosted)} (timed; no cost model here)")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        jobs.to_csv(Path(args.out) / "dag_budget.csv", index=False)
    if measured is not None:
        print()
        print_measured(jobs, *measured, path=args.measured, budget=args.budget_minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
