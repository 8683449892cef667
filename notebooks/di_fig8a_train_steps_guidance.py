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
# # Diffusion Inversion, Figure 8a: embedding training steps and classifier-free guidance
#
# From the dataset's shared inversion, sample one synthetic set per (embedding checkpoint, guidance strength w)
# of the `sweep`, every other setting at the appendix B.1 defaults; train a ResNet-18 on each (per seed) and
# report top-1 on the real test set. Parameters, claims and the paper's numbers:
# `config/experiments/di_fig8a_train_steps_guidance.yaml`.

# %% tags=["parameters"]
experiment = "di_fig8a_train_steps_guidance"
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
sweep = {"checkpoints": [2, 4], "guidance": [0, 4]}
arch = "resnet18"
train_steps = 2
batch_size = 4
seeds = [0]

# %%
from repro.experiments import ExperimentRun, test_set, training_set
from repro.experiments.plots import curves, summary_table
from repro.experiments.claims import best, cells
from repro.experiments.sweeps import train_sweep

run = ExperimentRun.from_globals(globals())
TABLE = "Figure 8a"

# %%
train = training_set(dataset, per_class, scale, data_root)
test = test_set(dataset, test_per_class, data_root)
inversion = run.assets.checked(f"inversion_{dataset}", run.params)
train_sweep(run, inversion, train, test, table=TABLE, row="checkpoint {checkpoints} steps", column="w = {guidance:g}")
summary_table(run, TABLE)

# %%
curves(run, table=TABLE, x="guidance", series="checkpoints", xlabel="classifier-free guidance strength w",
       name="figure8a", title=f"{dataset}, series: embedding checkpoint (steps)")

# %% [markdown]
# ## Claims

# %%
frame = run.frame()
frame = frame[frame["table"] == TABLE]
acc = cells(frame, ["checkpoints", "guidance"])
steps, strengths = sorted(sweep["checkpoints"]), sorted(sweep["guidance"])

# the single w with the highest mean over every checkpoint and seed
w_best = best(cells(frame, "guidance"))
third = min(steps, key=lambda c: abs(c - inversion_steps / 3))  # 1K of 3K (paper), 300 of 1000 (mini)
first, last = steps[0], steps[-1]
early = acc[(third, w_best)].mean - acc[(first, w_best)].mean
late = acc[(last, w_best)].mean - acc[(third, w_best)].mean
run.claim("inversion_steps_saturate", late < early,
          f"at w = {w_best:g}: checkpoint {first} {acc[(first, w_best)]}, {third} {acc[(third, w_best)]}, "
          f"{last} {acc[(last, w_best)]}; gain {first}->{third} {early:+.1f}, {third}->{last} {late:+.1f} "
          "(paper: marginal beyond 1K steps)")

drops = {c: max(acc[(c, w)].mean for w in strengths) - acc[(c, strengths[-1])].mean for c in steps}
run.claim("high_guidance_hurts", all(d > 2 for d in drops.values()),
          "; ".join(f"checkpoint {c}: best w {best({w: acc[(c, w)] for w in strengths}):g}, "
                    f"w = {strengths[-1]:g} is {d:.1f} points below" for c, d in drops.items()))
run.save()
