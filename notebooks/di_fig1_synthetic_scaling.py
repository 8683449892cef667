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
# # Diffusion Inversion, Figure 1 (right): accuracy as the synthetic set grows, against the full real set
#
# Every image of the training set has one learned embedding and `per_image` sampled variants (the shared
# inversion and synthetic set of the dataset). A synthetic set of size k (in multiples of the real set) keeps the
# first k variants of every image. Train a ResNet-18 on each synthetic size and on the full real set with the
# same budget; report top-1 on the real test set, mean ± std over seeds, and the smallest size that matches the
# real set. Parameters, claims and the paper's numbers: `config/experiments/di_fig1_synthetic_scaling.yaml`.

# %% tags=["parameters"]
experiment = "di_fig1_synthetic_scaling"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
dataset = "imagenette"
per_class = 4
test_per_class = 5
generator = "mini"
resolution = 64
dtype = "fp32"
inversion_steps = 4
inversion_lr = 0.03
checkpoints = [2, 4]
scheduler = "ddim"
inference_steps = 2
guidance = [2, 3, 4]
uncond = "mean"
noise = 0.1
interpolation = 0.1
per_image = 3
synthetic_sizes = [1, 3]
arch = "resnet18"
train_steps = 4
batch_size = 16
seeds = [0]

# %%
from repro.classifiers import TrainingData
from repro.experiments import ExperimentRun, shared_sets, train_and_test
from repro.experiments.claims import cells, describe, spread, steady
from repro.experiments.plots import curves, summary_table

run = ExperimentRun.from_globals(globals())
TABLE = "Figure 1 (Right)"
REAL, DI = "Real", "Diffusion Inversion"

# %%
train, test, synthetic = shared_sets(run, dataset)
sets = {(REAL, 1): TrainingData(real=train)}
sets.update({(DI, k): TrainingData(synthetic=synthetic.subset(train.ids, variants=k)) for k in sorted(synthetic_sizes)})
for seed in seeds:
    for (method, multiple), data in sets.items():
        row = "full real set" if method == REAL else f"{multiple}x the real set"
        train_and_test(run, table=TABLE, row=f"{row} ({len(data.sources[0].labels)} images)", data=data,
                       tests={method: test}, dataset=dataset, arch=arch, steps=train_steps, batch_size=batch_size,
                       seed=seed, method=method, multiple=multiple)
summary_table(run, TABLE)

# %%
frame = run.frame()
frame = frame[frame["table"] == TABLE]
di = cells(frame[frame["method"] == DI], "multiple")  # multiple -> mean ± std over seeds
real_mean = frame[frame["method"] == REAL]["value"].mean()
curves(run, table=TABLE, x="multiple", series="method", where={"method": DI},
       reference={f"{REAL} (full set)": real_mean}, xlabel="synthetic set size (multiples of the real set)",
       title=dataset, name="figure1_right")

# %% [markdown]
# ## Claims

# %%
reached = [m for m, c in di.items() if c.mean >= real_mean]
m_star = min(reached) if reached else None
if m_star is not None:  # the text's number: the size at which synthetic data surpasses the full real set
    run.record(table="text, section 4.1", row="synthetic set size at which it surpasses the full real set",
               column="multiple of the real set size", value=m_star, unit="x", dataset=dataset)
curve = describe({f"{m}x": c.mean for m, c in di.items()})
run.claim("matches_real_at_about_3x", m_star is not None and 2 <= m_star <= 5,
          f"real {real_mean:.1f}; DI {curve}; "
          + (f"m* = {m_star}x" if m_star is not None else "no tested size reaches real") + " (paper: about 3x)")

sizes = sorted(di)
grows = di[sizes[-1]].mean > di[sizes[0]].mean
changes = ", ".join(f"{a}x->{b}x {di[b].mean - di[a].mean:+.1f} (std {spread(di[a], di[b]):.1f})"
                    for a, b in zip(sizes, sizes[1:]))
run.claim("accuracy_grows_with_synthetic_size", steady([di[m] for m in sizes]) and grows,
          f"change to the next size: {changes or 'none (one size)'}; largest size {'>' if grows else '<='} "
          "smallest (a fall within the seeds' std does not count)")
run.save()
