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
# # Diffusion Inversion, Figure 8d and Tables 5 and 8: latent interpolation between embeddings
#
# From the dataset's shared inversion, sample one synthetic set per interpolation strength alpha of the
# `sweep` (alpha * c1 + (1 - alpha) * c2 with a random partner c2 of the same class, noise 0, the rest at the
# appendix B.1 defaults). Figure 8d: train a ResNet-18 on the first k variants per real image (k of
# `synthetic_sizes`) and report top-1 on the real test set. Tables 8 and 5 (the same numbers, Table 5 without
# density): FID, precision, recall, density and coverage of each alpha's set against the real training images
# on the `features` network (`metric_samples` images per set); columns say the features. Parameters, claims
# and the paper's numbers: `config/experiments/di_fig8d_interpolation.yaml`.

# %% tags=["parameters"]
experiment = "di_fig8d_interpolation"
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
noise = 0.0
interpolation = 0.1
per_image = 2
sweep = {"interpolation": [0.0, 0.1, 0.4]}
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
from repro.experiments.claims import best, cells, spread
from repro.experiments.sweeps import train_sweep

run = ExperimentRun.from_globals(globals())
TABLE = "Figure 8d"
METRIC_TABLES = {"Table 8": ["fid", "precision", "recall", "density", "coverage"],
                 "Table 5": ["fid", "precision", "recall", "coverage"]}

# %%
train = training_set(dataset, per_class, scale, data_root)
test = test_set(dataset, test_per_class, data_root)
inversion = run.assets.checked(f"inversion_{dataset}", run.params)
train_sweep(run, inversion, train, test, table=TABLE, row="{size}x the real set",
            column="alpha = {interpolation:.2f}", sizes=sorted(synthetic_sizes), metric_tables=METRIC_TABLES,
            metric_row="{interpolation:.2f}")
summary_table(run, TABLE)

# %%
curves(run, table=TABLE, x="synthetic_size", series="interpolation", logx=True,
       xlabel="synthetic set size (multiples of the real set)", name="figure8d",
       title=f"{dataset}, series: interpolation strength alpha")
curves(run, table="Table 8", x="interpolation", series="unit", panel="column", xlabel="interpolation strength alpha",
       ylabel=f"value ({features} features)", name="table8_metrics")
summary_table(run, "Table 8")

# %% [markdown]
# ## Claims
#
# Both checks name alpha = 0, 0.1 and 0.4; a sweep without them cannot decide the claims.

# %%
frame = run.frame()
alphas, sizes = sorted(sweep["interpolation"]), sorted(synthetic_sizes)
named = {0.0, 0.1, 0.4}
acc = cells(frame[frame["table"] == TABLE], ["synthetic_size", "interpolation"])
quality = frame[frame["table"] == "Table 8"].pivot_table(index="interpolation", columns="column", values="value")
top = best({a: acc[(sizes[-1], a)] for a in alphas})
run.record(table="text, section 5.3", row="optimal interpolation strength", column="best at the largest synthetic size",
           value=top, dataset=dataset, note=f"best alpha at {sizes[-1]}x the real set")
if named <= set(alphas):
    zero, small = acc[(sizes[-1], 0.0)], acc[(sizes[-1], 0.1)]
    gains = small.mean - zero.mean > spread(small, zero)
    high_hurts = {k: acc[(k, 0.4)].mean < acc[(k, 0.1)].mean for k in sizes}
    run.claim("interpolation_helps_as_data_grows", gains and all(high_hurts.values()),
              f"at {sizes[-1]}x: alpha 0 {zero}, alpha 0.1 {small} (counts beyond the larger std); alpha 0.4 vs 0.1: "
              + ", ".join(f"{k}x {acc[(k, 0.4)]} vs {acc[(k, 0.1)]}" for k in sizes)
              + f"; best alpha at {sizes[-1]}x: {top:g} (paper: 0.1 to 0.15)")
    q = quality.loc
    verdicts = {"FID rises 0.1 -> 0.4": q[0.4, "FID"] > q[0.1, "FID"],
                "precision falls 0.1 -> 0.4": q[0.4, "Precision"] < q[0.1, "Precision"],
                "recall rises 0 -> 0.4": q[0.4, "Recall"] > q[0.0, "Recall"],
                "coverage peaks at 0.1": quality["Coverage"].idxmax() == 0.1}
    shown = "; ".join(f"{m} {', '.join(f'{a:g}: {v:.3g}' for a, v in quality[m].items())}"
                      for m in ("FID", "Precision", "Recall", "Coverage"))
    run.claim("interpolation_quality_diversity_tradeoff", all(verdicts.values()),
              ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in verdicts.items()) + f" ({shown}; {features})")
else:
    for claim in ("interpolation_helps_as_data_grows", "interpolation_quality_diversity_tradeoff"):
        run.claim(claim, None, f"the sweep {alphas} lacks alpha in {sorted(named - set(alphas))}")
run.save()
