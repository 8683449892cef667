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
# # Diffusion Inversion, Table 1: information lost by the autoencoder
#
# Pass every training image through the generator's autoencoder at each resolution r of `vae_resolutions`
# (bicubic up from the dataset's 32 px to r, encode to the posterior mean, decode, bicubic back to 32 px;
# `repro.sampling.vae_roundtrip`) and train a ResNet-18 on each processed set, on the original images, and on
# the Diffusion Inversion set (the shared synthetic set as sampled with the seed, `per_image` variants of every
# image, generated at
# `resolution`); top-1 on the original real test set, mean ± std over seeds. Parameters, claims and the paper's
# numbers: `config/experiments/di_table1_vae_information_loss.yaml`.

# %% tags=["parameters"]
experiment = "di_table1_vae_information_loss"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
config_dir = ""

# %%
from dataclasses import replace

from repro.classifiers import TrainingData
from repro.errors import ReproError
from repro.experiments import ExperimentRun, TrainingGrid, claims, generate, per_dataset, shared_sets
from repro.experiments.plots import bars, summary_table
from repro.sampling import vae_roundtrip

run = ExperimentRun.from_globals(globals())
TABLE = "Table 1"
ORIGINAL, DI = "Real (Original)", "Diffusion Inversion"
COLUMNS = {"cifar10": "CIFAR10", "cifar100": "CIFAR100"}
sizes = sorted(int(r) for r in vae_resolutions)
for dataset in datasets:
    if per_dataset(resolution, dataset) not in sizes:
        raise ReproError(
            f"resolution {per_dataset(resolution, dataset)} (the generator's, for {dataset}) is not in "
            f"vae_resolutions {sizes}; di_beats_vae_roundtrip compares with that row, so add it"
        )
bundle = generate.generator(run, generator, dtype)

# %%
vae_rows = {}  # dataset -> {resolution: row label}
# the classifiers of every dataset, seed and set, trained side by side on the GPU
with TrainingGrid(run, arch=arch, steps=train_steps, batch_size=batch_size) as grid:
    for dataset in datasets:
        column = COLUMNS.get(dataset, dataset)
        train, test, synthetic = shared_sets(run, dataset)
        vae_rows[dataset] = {r: f"Real ({train.resolution} -> {r})" for r in sizes}
        sets = {ORIGINAL: (TrainingData(real=train), None)}
        for r, row in vae_rows[dataset].items():
            processed = replace(
                train,
                images=vae_roundtrip(bundle, train.images, resolution=r, precision=dtype),
                name=f"{train.name}:vae{r}",
            )
            sets[row] = (TrainingData(real=processed), r)
        for seed in seeds:
            variants = synthetic(seed).subset(train.ids, per_image)  # the seed's own sample of the set
            sets[DI] = (TrainingData(synthetic=variants), per_dataset(resolution, dataset))
            for row, (data, size) in sets.items():
                grid.add(
                    table=TABLE,
                    row=row,
                    data=data,
                    tests={column: test},
                    dataset=dataset,
                    seed=seed,
                    generator_resolution=size or "",
                )
summary_table(run, TABLE)

# %%
bars(run, table=TABLE, group="column", series="row", name="table1", title="training on autoencoded images")

# %% [markdown]
# ## Claims
#
# Every comparison counts only beyond the seeds' noise (`repro.experiments.claims`). "Less so at higher
# resolution": the highest-resolution round trip beats the lowest.

# %%
loses, beats = [], []
for dataset in datasets:
    column = COLUMNS.get(dataset, dataset)
    acc = claims.cells(run.frame().query("table == @TABLE and column == @column"), "row")
    loses.append(claims.below_original_less_so_higher(acc, ORIGINAL, list(vae_rows[dataset].values()), column))
    own = vae_rows[dataset][per_dataset(resolution, dataset)]
    beats.append(claims.greater(acc[DI], acc[own], f"{column}: {DI} - {own}"))
run.judge("autoencoding_loses_information", claims.all_of(loses))
run.judge("di_beats_vae_roundtrip", claims.all_of(beats))
run.save()
