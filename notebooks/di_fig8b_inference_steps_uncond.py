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
# # Diffusion Inversion, Figure 8b: inference steps and the unconditional embedding
#
# From the dataset's shared inversion, sample one synthetic set per (number of denoising steps, unconditional
# input of classifier-free guidance) of the `sweep`: the mean of all learned embeddings (`mean`) or the text
# encoder's output for the empty string (`empty`); every other setting at the appendix B.1 defaults. Train a
# ResNet-18 on each (per seed) and report top-1 on the real test set. Parameters, claims and the paper's
# numbers: `config/experiments/di_fig8b_inference_steps_uncond.yaml`.

# %% tags=["parameters"]
experiment = "di_fig8b_inference_steps_uncond"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
dataset = "imagenette"
per_class = 2
test_per_class = 2
generator = "mini"
resolution = 64
dtype = "fp32"
inversion_steps = 4
inversion_lr = 0.03
checkpoints = [4]
scheduler = "ddim"
inference_steps = 2
guidance = [2]
uncond = "mean"
noise = 0.1
interpolation = 0.1
per_image = 1
sweep = {"inference_steps": [1, 2], "uncond": ["mean", "empty"]}
arch = "resnet18"
train_steps = 2
batch_size = 4
seeds = [0]

# %%
from repro.experiments import ExperimentRun, test_set, training_set
from repro.experiments.plots import curves, summary_table
from repro.experiments.claims import best, cells, spread
from repro.experiments.sweeps import train_sweep

run = ExperimentRun.from_globals(globals())
TABLE = "Figure 8b"

# %%
train = training_set(dataset, per_class, scale, data_root)
test = test_set(dataset, test_per_class, data_root)
inversion = run.assets.checked(f"inversion_{dataset}", run.params)
train_sweep(run, inversion, train, test, table=TABLE, row="{inference_steps} inference steps",
            column="uncond = {uncond}")
summary_table(run, TABLE)

# %%
curves(run, table=TABLE, x="inference_steps", series="uncond", xlabel="denoising steps", logx=True,
       name="figure8b", title=f"{dataset}, series: unconditional embedding")

# %% [markdown]
# ## Claims

# %%
frame = run.frame()
acc = cells(frame[frame["table"] == TABLE], ["inference_steps", "uncond"])
steps = sorted(sweep["inference_steps"])
run.claim("mean_uncond_beats_empty", all(acc[(n, "mean")].mean > acc[(n, "empty")].mean for n in steps),
          "; ".join(f"{n} steps: mean {acc[(n, 'mean')]}, empty {acc[(n, 'empty')]}" for n in steps))

with_mean = {n: acc[(n, "mean")] for n in steps}
top = best(with_mean)
if inference_steps in with_mean:
    gap = with_mean[top].mean - with_mean[inference_steps].mean
    run.claim("default_steps_sufficient", gap <= spread(with_mean[top], with_mean[inference_steps]),
              f"mean embedding: default {inference_steps} steps {with_mean[inference_steps]}, best {top} steps "
              f"{with_mean[top]}; gap {gap:.1f} vs the larger std "
              f"{spread(with_mean[top], with_mean[inference_steps]):.1f} (paper: 100 steps)")
else:
    run.claim("default_steps_sufficient", None, f"the sweep {steps} lacks the default of {inference_steps} steps")
run.save()
