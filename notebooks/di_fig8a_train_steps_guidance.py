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
# of the `sweep` and seed, every other setting at the appendix B.1 defaults; train a ResNet-18 on each and
# report top-1 on the real test set. w follows the paper's text, eps = (1 + w) eps(c) - w eps(u); the authors'
# released code uses w = 1 (diffusers guidance_scale 2), a column of the sweep where a scale sweeps it (paper,
# smoke). Parameters, claims and the paper's numbers: `config/experiments/di_fig8a_train_steps_guidance.yaml`.

# %% tags=["parameters"]
experiment = "di_fig8a_train_steps_guidance"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
config_dir = ""

# %%
from repro.experiments import ExperimentRun, claims, test_set, training_set
from repro.experiments.plots import curves, summary_table
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
curves(
    run,
    table=TABLE,
    x="guidance",
    series="checkpoints",
    xlabel="classifier-free guidance strength w",
    name="figure8a",
    title=f"{dataset}, series: embedding checkpoint (steps)",
)

# %% [markdown]
# ## Claims
#
# Every comparison counts only beyond the seeds' noise (`repro.experiments.claims`); no guidance strength is
# picked on test accuracies: saturation is judged on the mean over every swept w, the drop at the largest w
# against the scale's default w. w follows the paper's convention; w = 1 is the authors' released value.

# %%
frame = run.frame()
acc = claims.cells(frame[frame["table"] == TABLE], ["checkpoints", "guidance"])
steps, strengths = sorted(sweep["checkpoints"]), sorted(sweep["guidance"])
run.judge(
    "inversion_steps_saturate",
    claims.saturates(acc, steps, strengths, inversion_steps),
    note="paper: marginal beyond 1K of 3K steps",
)
run.judge(
    "high_guidance_hurts", claims.everywhere(acc, steps, max(strengths), guidance[0], check=claims.less, what="w = ")
)
run.save()
