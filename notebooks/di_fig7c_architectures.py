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
# # Diffusion Inversion, Figure 7c: synthetic data across neural architectures
#
# Train each architecture of `archs` on the real training set and on its Diffusion Inversion set (the shared
# synthetic set of the dataset, each seed's own sample, `per_image` variants of every image) with the same recipe
# and budget; report top-1 on the real test set, mean ± std over seeds. Parameters and claims:
# `config/experiments/di_fig7c_architectures.yaml` (the paper gives the figure only, no numbers).

# %% tags=["parameters"]
experiment = "di_fig7c_architectures"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
config_dir = ""

# %%
from repro.classifiers import ARCHS, TrainingData
from repro.errors import ReproError
from repro.experiments import ExperimentRun, TrainingGrid, claims, shared_sets
from repro.experiments.plots import bars, summary_table

run = ExperimentRun.from_globals(globals())
TABLE = "Figure 7c"
REAL, DI = "Real", "Diffusion Inversion"
#: the figure's names of the architectures (others keep their repro.classifiers name)
NAMES = {
    "resnet18": "ResNet18",
    "vgg16_bn": "VGG16",
    "mobilenet_v2": "MobileNetV2",
    "shufflenet_v2": "ShuffleNetV2",
    "efficientnet_b0": "EfficientNetB0",
}
unknown = [a for a in archs if a not in ARCHS]
if unknown:
    raise ReproError(f"archs {unknown} are not architectures of repro.classifiers; choose from {', '.join(ARCHS)}")

# %%
train, test, synthetic = shared_sets(run, dataset)
# the classifiers of every architecture, seed and set, trained side by side on the GPU
with TrainingGrid(run, steps=train_steps, batch_size=batch_size) as grid:
    for arch in archs:
        for seed in seeds:
            variants = synthetic(seed).subset(train.ids, per_image)  # the seed's own sample of the set
            sets = {REAL: TrainingData(real=train), DI: TrainingData(synthetic=variants)}
            for method, data in sets.items():
                grid.add(
                    table=TABLE,
                    row=NAMES.get(arch, arch),
                    data=data,
                    tests={method: test},
                    dataset=dataset,
                    arch=arch,
                    seed=seed,
                    method=method,
                )
summary_table(run, TABLE)

# %%
bars(run, table=TABLE, group="row", series="column", name="figure7c", title=f"{dataset}: real vs synthetic")

# %% [markdown]
# ## Claims
#
# Every comparison counts only beyond the seeds' noise (`repro.experiments.claims`).

# %%
acc = claims.cells(run.frame().query("table == @TABLE"), ["row", "column"])
run.judge("helps_across_archs", claims.everywhere(acc, [NAMES.get(a, a) for a in archs], DI, REAL))
run.save()
