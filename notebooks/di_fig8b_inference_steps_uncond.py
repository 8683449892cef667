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
# encoder's output for the empty string (`empty`); every other setting at the appendix B.1 defaults; each seed
# samples its own sets. Train a ResNet-18 on each and report top-1 on the real test set. Parameters, claims
# and the paper's numbers: `config/experiments/di_fig8b_inference_steps_uncond.yaml`.

# %% tags=["parameters"]
experiment = "di_fig8b_inference_steps_uncond"
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
TABLE = "Figure 8b"

# %%
train = training_set(dataset, per_class, scale, data_root)
test = test_set(dataset, test_per_class, data_root)
inversion = run.assets.checked(f"inversion_{dataset}", run.params)
train_sweep(
    run, inversion, train, test, table=TABLE, row="{inference_steps} inference steps", column="uncond = {uncond}"
)
summary_table(run, TABLE)

# %%
curves(
    run,
    table=TABLE,
    x="inference_steps",
    series="uncond",
    xlabel="denoising steps",
    logx=True,
    name="figure8b",
    title=f"{dataset}, series: unconditional embedding",
)

# %% [markdown]
# ## Claims
#
# Every comparison counts only beyond the seeds' noise (`repro.experiments.claims`); "sufficient" means no step
# count gains over the default by more than the equivalence margin.

# %%
frame = run.frame()
frame = frame[frame["table"] == TABLE]
steps = sorted(sweep["inference_steps"])
run.judge(
    "mean_uncond_beats_empty",
    claims.everywhere(claims.cells(frame, ["inference_steps", "uncond"]), steps, "mean", "empty"),
)
run.judge(
    "default_steps_sufficient",
    claims.no_setting_beats(
        claims.cells(frame[frame["uncond"] == "mean"], "inference_steps"), steps, inference_steps, "steps"
    ),
    note="mean embedding; paper: 100 steps",
)
run.save()
