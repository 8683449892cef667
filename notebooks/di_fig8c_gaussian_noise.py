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
# # Diffusion Inversion, Figure 8c and Table 9: Gaussian noise on the embeddings
#
# From the dataset's shared inversion, sample one synthetic set per noise strength lambda of the `sweep`
# (c + lambda * eps, interpolation 0, the rest at the appendix B.1 defaults). Figure 8c: train a ResNet-18 on
# the first k variants per real image (k of `synthetic_sizes`: k times the real set) and report top-1 on the
# real test set. Table 9: FID, precision, recall, density and coverage of each lambda's set against the real
# training images on the `features` network (`metric_samples` images per set); columns say the features
# (`fid@pool-resnet18` is not Inception FID). Parameters, claims and the paper's numbers:
# `config/experiments/di_fig8c_gaussian_noise.yaml`.

# %% tags=["parameters"]
experiment = "di_fig8c_gaussian_noise"
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
interpolation = 0.0
per_image = 2
sweep = {"noise": [0.0, 0.4]}
synthetic_sizes = [1, 2]
features = "pool-resnet18"
metric_samples = 20
arch = "resnet18"
train_steps = 2
batch_size = 4
seeds = [0]

# %%
from repro.experiments import ExperimentRun, test_set, training_set
from repro.experiments.plots import curves, summary_table
from repro.experiments.claims import best, cells, monotone, spread
from repro.experiments.sweeps import train_sweep

run = ExperimentRun.from_globals(globals())
TABLE, METRICS = "Figure 8c", "Table 9"
SHOWN = ["fid", "precision", "recall", "density", "coverage"]

# %%
train = training_set(dataset, per_class, scale, data_root)
test = test_set(dataset, test_per_class, data_root)
inversion = run.assets.checked(f"inversion_{dataset}", run.params)
train_sweep(run, inversion, train, test, table=TABLE, row="{size}x the real set", column="lambda = {noise:.2f}",
            sizes=sorted(synthetic_sizes), metric_tables={METRICS: SHOWN}, metric_row="{noise:.2f}")
summary_table(run, TABLE)

# %%
curves(run, table=TABLE, x="synthetic_size", series="noise", xlabel="synthetic set size (multiples of the real set)",
       logx=True, name="figure8c", title=f"{dataset}, series: noise strength lambda")
curves(run, table=METRICS, x="noise", series="unit", panel="column", xlabel="noise strength lambda",
       ylabel=f"value ({features} features)", name="table9_metrics")
summary_table(run, METRICS)

# %% [markdown]
# ## Claims

# %%
frame = run.frame()
acc = cells(frame[frame["table"] == TABLE], ["synthetic_size", "noise"])
strengths, sizes = sorted(sweep["noise"]), sorted(synthetic_sizes)
at = {k: {lam: acc[(k, lam)] for lam in strengths} for k in sizes}
large = at[sizes[-1]]
top_large = best(large)
run.record(table="text, section 5.3", row="noise strength to start from when sampling more data", column="lambda",
           value=top_large, unit="", dataset=dataset, note=f"best lambda at {sizes[-1]}x the real set")
if 0.0 in strengths and 1 in sizes and sizes[-1] > 1:
    small = at[1]
    top_small = best(small)
    no_noise_fine = small[top_small].mean - small[0.0].mean <= spread(small[top_small], small[0.0])
    noise_wins = top_large > 0 and large[top_large].mean - large[0.0].mean > spread(large[top_large], large[0.0])
    run.claim("noise_helps_as_data_grows", no_noise_fine and noise_wins,
              f"at 1x: lambda 0 {small[0.0]}, best lambda {top_small:g} {small[top_small]}; "
              f"at {sizes[-1]}x: lambda 0 {large[0.0]}, best lambda {top_large:g} {large[top_large]} "
              "(a difference counts beyond the larger std; paper: no noise at 1x, from lambda 0.2 when sampling more)")
else:
    run.claim("noise_helps_as_data_grows", None,
              f"needs lambda 0 in the sweep ({strengths}) and sizes 1x and larger ({sizes})")

quality = frame[frame["table"] == METRICS].pivot_table(index="noise", columns="column", values="value").sort_index()
trends = {"FID": True, "Precision": False, "Recall": False, "Density": False, "Coverage": False}  # True: rises
held = {m: monotone(list(quality[m]), rising=up) for m, up in trends.items()}
run.claim("noise_degrades_image_metrics", all(held.values()),
          "; ".join(f"{m} {' -> '.join(f'{v:.3g}' for v in quality[m])} ({'monotone' if ok else 'not monotone'})"
                    for m, ok in held.items()) + f" over lambda {strengths} ({features} features)")
run.save()
