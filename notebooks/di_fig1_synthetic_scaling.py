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
import matplotlib.pyplot as plt

from repro.classifiers import TrainingData
from repro.experiments import ExperimentRun, Synthetic, test_set, train_and_test, training_set
from repro.experiments.claims import describe
from repro.experiments.plots import summary_table

run = ExperimentRun.from_globals(globals())
TABLE = "Figure 1 (Right)"
REAL, DI = "Real", "Diffusion Inversion"

# %%
train = training_set(dataset, per_class, scale, data_root)
test = test_set(dataset, test_per_class, data_root)
run.assets.checked(f"inversion_{dataset}", run.params)
synthetic = Synthetic(run.assets.checked(f"synthetic_{dataset}", run.params))
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
di = frame[frame["method"] == DI].groupby("multiple")["value"].agg(["mean", "std"]).sort_index()
real = frame[frame["method"] == REAL]["value"]
fig, ax = plt.subplots(figsize=(4.6, 3.4))
ax.errorbar(di.index, di["mean"], yerr=di["std"].fillna(0), marker="o", capsize=3, label=DI)
ax.axhline(real.mean(), color="k", linestyle="--", label=f"{REAL} (full set)")
ax.set_xlabel("synthetic set size (multiples of the real set)")
ax.set_ylabel("top-1 accuracy (%)")
ax.set_title(dataset)
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
run.figure(fig, "figure1_right")

# %% [markdown]
# ## Claims

# %%
real_mean = real.mean()
reached = [m for m, value in di["mean"].items() if value >= real_mean]
m_star = min(reached) if reached else None
if m_star is not None:  # the text's number: the size at which synthetic data surpasses the full real set
    run.record(table="text, section 4.1", row="synthetic set size at which it surpasses the full real set",
               column="multiple of the real set size", value=m_star, unit="x", dataset=dataset)
curve = describe({f"{m}x": v for m, v in di["mean"].items()})
run.claim("matches_real_at_about_3x", m_star is not None and 2 <= m_star <= 5,
          f"real {real_mean:.1f}; DI {curve}; "
          + (f"m* = {m_star}x" if m_star is not None else "no tested size reaches real") + " (paper: about 3x)")

std = di["std"].fillna(0)  # one seed: no spread
sizes = list(di.index)
changes = {(a, b): di["mean"][b] - di["mean"][a] for a, b in zip(sizes, sizes[1:])}
# a drop counts when it exceeds the larger std of the two sizes
steady = all(-change <= max(std[a], std[b]) for (a, b), change in changes.items())
grows = bool(di["mean"].iloc[-1] > di["mean"].iloc[0])
run.claim("accuracy_grows_with_synthetic_size", steady and grows,
          "change to the next size: " + (", ".join(f"{a}x->{b}x {c:+.1f} (std {max(std[a], std[b]):.1f})"
                                                   for (a, b), c in changes.items()) or "none (one size)")
          + f"; largest size {'>' if grows else '<='} smallest")
run.save()
