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
# # Diffusion Inversion, Table 4: against and combined with classic data augmentations
#
# Train a ResNet-18 on the real training set and on its Diffusion Inversion set (the shared synthetic set of the
# dataset, `per_image` variants of every image) with the default augmentation (random crop after zero-padding,
# horizontal flip) alone and with each augmentation of `augmentations` on top of it (appendix B.2.3, as
# `repro.classifiers` implements them); top-1 on the real test set, mean ± std over seeds. Parameters, claims and
# the paper's numbers: `config/experiments/di_table4_augmentations.yaml`.

# %% tags=["parameters"]
experiment = "di_table4_augmentations"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
config_dir = ""

# %%
from repro.classifiers import AUGMENTATIONS, TrainingData
from repro.errors import ReproError
from repro.experiments import ExperimentRun, TrainingGrid, claims, shared_sets
from repro.experiments.plots import bars, summary_table

run = ExperimentRun.from_globals(globals())
TABLE = "Table 4"
REAL, DI = "Original Dataset", "Synthetic (Ours)"  # the table's rows
#: the registry's augmentation name -> (its name in repro.classifiers.AUGMENTATIONS, the table's column)
AUGMENT = {
    "default": ("default", "Default"),
    "autoaugment": ("autoaugment", "AutoAug"),
    "randaugment": ("randaugment", "RandAug"),
    "cutout": ("cutout", "CutOut"),
    "mixup": ("mixup", "MixUp"),
    "cutmix": ("cutmix", "CutMix"),
    "augmix": ("augmix", "AugMix"),
    "me_ada": ("meada", "ME-ADA"),
}
assert {name for name, _ in AUGMENT.values()} <= set(AUGMENTATIONS)
unknown = [a for a in augmentations if a not in AUGMENT]
if unknown or "default" not in augmentations:
    raise ReproError(
        f"augmentations must include 'default' (every claim compares with it) and name only "
        f"{', '.join(AUGMENT)}; got {list(augmentations)}"
    )

# %%
train, test, synthetic = shared_sets(run, dataset)
# the classifiers of every augmentation, seed and set, trained side by side on the GPU
with TrainingGrid(run, arch=arch, steps=train_steps, batch_size=batch_size) as grid:
    for augmentation in augmentations:
        augment, column = AUGMENT[augmentation]
        for seed in seeds:
            variants = synthetic(seed).subset(train.ids, per_image)  # the seed's own sample of the set
            for row, data in {REAL: TrainingData(real=train), DI: TrainingData(synthetic=variants)}.items():
                grid.add(
                    table=TABLE,
                    row=row,
                    data=data,
                    tests={column: test},
                    dataset=dataset,
                    seed=seed,
                    augment=augment,
                )
summary_table(run, TABLE)

# %%
bars(run, table=TABLE, group="column", series="row", name="table4", title=f"{dataset}: augmentations")

# %% [markdown]
# ## Claims
#
# Every comparison counts only beyond the seeds' noise (`repro.experiments.claims`); "can improve further" holds
# when at least one augmentation beats the default on synthetic data, corrected for the augmentations tried.

# %%
acc = claims.cells(run.frame().query("table == @TABLE"), ["column", "row"])  # (augmentation, training set)
columns = [AUGMENT[a][1] for a in augmentations]
run.judge(
    "synthetic_beats_real_augmentations",
    claims.all_of(
        [claims.greater(acc[("Default", DI)], acc[(c, REAL)], f"{DI} + Default - {REAL} + {c}") for c in columns]
    ),
)
run.judge(
    "combines_with_augmentations",
    claims.all_of(
        [
            claims.everywhere(acc, columns, DI, REAL),
            claims.any_of(
                [
                    claims.greater(acc[(c, DI)], acc[("Default", DI)], f"{DI} + {c} - {DI} + Default")
                    for c in columns
                    if c != "Default"
                ],
                empty="no augmentation other than the default tested",
            ),
        ]
    ),
)
run.save()
