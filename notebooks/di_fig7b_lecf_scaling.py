# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Diffusion Inversion, Figure 7b: accuracy as the number of generated images grows, against LECF
#
# Train a ResNet-18 only on generated images, as many as `synthetic_sizes` times the real training set: the first
# k Diffusion Inversion variants of every training image (the shared synthetic set of the seed), or LECF's
# prompt-generated, filter-kept images, the same number in all, spread evenly over the classes. LECF's filter
# threshold is chosen from `lecf_thresholds` by accuracy on a validation split carved from the real training set
# (`validation_fraction`; the paper chose 0.95, apparently on test accuracy), at the smallest size with the first
# seed; that run's test accuracy is also the curve's point there. Top-1 on the real test set, mean ± std over seeds; a
# well-represented dataset (ImageNette offline, STL-10 in the paper) and a distribution-shifted one (PACS sketch).
# Parameters, claims and the paper's numbers: `config/experiments/di_fig7b_lecf_scaling.yaml`.

# %% tags=["parameters"]
experiment = "di_fig7b_lecf_scaling"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
config_dir = ""

# %%
from repro.baselines.params import build_lecf, lecf_set
from repro.classifiers import TrainingData
from repro.errors import ReproError
from repro.experiments import (
    ExperimentRun,
    Synthetic,
    TrainingGrid,
    claims,
    per_dataset,
    shared_sets,
    validation_split,
)
from repro.experiments.classify import validation_table
from repro.experiments.generate import generator as load_bundle
from repro.experiments.plots import curves
from repro.experiments.quality import filter_network

run = ExperimentRun.from_globals(globals())
TABLE, SELECTION = "Figure 7b", "Figure 7b: LECF threshold selection"
DI, LECF = "Diffusion Inversion", "LECF"
NAMES = {"imagenette": "ImageNette", "pacs_sketch": "PACS sketch", "stl10": "STL10"}
PAPER_DATASET = "stl10"  # the dataset whose best threshold the text reports
WELL_REPRESENTED, SHIFTED = ("imagenette", "stl10"), ("pacs_sketch",)
unknown = sorted(set(methods) - {"diffusion_inversion", "lecf"})
if unknown:
    raise ReproError(f"methods {unknown} have no Figure 7b row; use diffusion_inversion and lecf")
filter_label = "CLIP" if lecf_filter == "clip" else lecf_filter
bundle = load_bundle(run, generator, dtype) if "lecf" in methods else None
filter_model = lambda: filter_network(run, lecf_filter)  # noqa: E731  (only a pool-trained filter loads one)


def fit(grid, dataset, data, test, seed, method, size, **fields):
    """One classifier on generated images, added to ``grid``; its accuracy recorded as the curve's cell."""
    grid.add(
        table=TABLE,
        row=f"{NAMES.get(dataset, dataset)}, {size}x the real set",
        data=data,
        tests={{"diffusion_inversion": DI, "lecf": LECF}[method]: test},
        dataset=dataset,
        seed=seed,
        method=method,
        size=size,
        **fields,
    )


# %%
chosen = {}
for dataset in datasets:
    name = NAMES.get(dataset, dataset)
    train, test, synthetic = shared_sets(run, dataset)
    _, validation = validation_split(train, validation_fraction)  # LECF never trains on real images
    per_class_at = {size: max(1, round(size * len(train) / len(train.classes))) for size in synthetic_sizes}
    smallest, first_seed = min(synthetic_sizes), seeds[0]
    if "lecf" in methods:
        lecf = build_lecf(
            bundle,
            train.classes,
            prompts=lecf_prompts,
            filter=lecf_filter,
            guidance=guidance,
            scheduler=scheduler,
            steps=inference_steps,
            resolution=per_dataset(resolution, dataset),
            save_resolution=train.resolution,
            precision=dtype,
            max_attempts=lecf_max_attempts,
            pool_classifier=filter_model,
        )
        candidates = []  # thresholds whose set is not empty, each scored at the smallest size, first seed
        # the candidates' classifiers, trained side by side on the GPU
        with TrainingGrid(run, arch=arch, steps=train_steps, batch_size=batch_size) as grid:
            for threshold in sorted(lecf_thresholds):
                kept = lecf_set(lecf, run.scratch(f"lecf_{dataset}"), threshold, per_class_at[smallest], dataset)
                run.record(
                    table="LECF acceptance",
                    row=f"{name}, threshold {float(threshold)}",
                    column="acceptance rate",
                    value=100 * kept.index["acceptance"]["acceptance_rate"],
                    unit="%",
                    dataset=dataset,
                    threshold=threshold,
                    images=len(kept),
                    size=smallest,
                )
                if not len(kept):
                    print(
                        f"{name}: LECF at threshold {threshold} kept no image within its attempts budget; "
                        "not a candidate"
                    )
                    continue
                grid.add(
                    table=SELECTION,
                    row=name,
                    data=TrainingData(synthetic=Synthetic(kept.path).subset()),
                    tests={f"threshold {float(threshold)}": test},
                    dataset=dataset,
                    seed=first_seed,
                    threshold=threshold,
                    size=smallest,
                    images=len(kept),
                    validation=validation,
                )
                candidates.append(threshold)
        if candidates:
            # chosen on the validation split (ties: the lower threshold), never on the test set
            chosen[dataset] = claims.best(
                {t: run.cell(validation_table(SELECTION), row=name, threshold=t) for t in candidates}
            )
            run.record(
                table="text, section 4.2",
                row="LECF" if dataset == PAPER_DATASET else f"LECF on {name}",
                column=f"best {filter_label}-filter threshold",
                value=chosen[dataset],
                dataset=dataset,
                size=smallest,
                seed=first_seed,
            )
            # the selection run at the chosen threshold is the curve's cell (smallest size, first seed)
            run.record(
                table=TABLE,
                row=f"{name}, {smallest}x the real set",
                column=LECF,
                value=run.mean(SELECTION, row=name, threshold=chosen[dataset]),
                unit="%",
                seed=first_seed,
                dataset=dataset,
                arch=arch,
                method="lecf",
                size=smallest,
                threshold=chosen[dataset],
                from_selection=True,
            )
        else:
            print(f"{name}: LECF kept no image at any threshold; no LECF curve")
    # the curves' classifiers, trained side by side on the GPU
    with TrainingGrid(run, arch=arch, steps=train_steps, batch_size=batch_size) as grid:
        for size in sorted(synthetic_sizes):
            for seed in seeds:
                if "diffusion_inversion" in methods:
                    fit(
                        grid,
                        dataset,
                        TrainingData(synthetic=synthetic(seed).subset(train.ids, variants=size)),
                        test,
                        seed,
                        "diffusion_inversion",
                        size,
                        images=size * len(train),
                    )
                if dataset in chosen and (size, seed) != (smallest, first_seed):
                    kept = lecf_set(lecf, run.scratch(f"lecf_{dataset}"), chosen[dataset], per_class_at[size], dataset)
                    fit(
                        grid,
                        dataset,
                        TrainingData(synthetic=Synthetic(kept.path).subset()),
                        test,
                        seed,
                        "lecf",
                        size,
                        threshold=chosen[dataset],
                        images=len(kept),
                    )

# %%
curves(
    run,
    table=TABLE,
    x="size",
    series="method",
    panel="dataset",
    logx=True,
    xlabel="generated images (multiples of the real set)",
    name="figure7b",
)

# %% [markdown]
# ## Claims
#
# Every comparison counts only beyond the seeds' noise (`repro.experiments.claims`). DI beating LECF under
# distribution shift is this suite's extension: the paper only conjectures it (and on EuroSAT reports DI
# comparable to LECF).

# %%
frame = run.frame()
acc = claims.cells(frame[frame["table"] == TABLE], ["dataset", "size", "column"])
threshold_note = "LECF threshold chosen on the validation split: " + (
    ", ".join(f"{NAMES.get(d, d)} {t}" for d, t in chosen.items()) or "none"
)
run.judge(
    "beats_lecf_scaling",
    claims.gap_grows(acc, [d for d in datasets if d in WELL_REPRESENTED], DI, LECF),
    note=threshold_note,
)
run.judge(
    "beats_lecf_under_shift",
    claims.beats_at_sizes(acc, [d for d in datasets if d in SHIFTED], DI, LECF),
    note=threshold_note,
)
run.save()
