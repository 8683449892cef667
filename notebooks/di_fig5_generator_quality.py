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
# # Diffusion Inversion, Figure 5: generator quality matters
#
# Synthetic sets of the real set's size (one variant per real image: guidance 2, the last embedding
# checkpoint, the appendix B.1 defaults otherwise), made by Diffusion Inversion with generators of growing
# quality: the mini model's UNet at `pretrain_fractions` of its pretraining (10 %, 30 %: its early checkpoints,
# each inverting the same real images; 100 %: the final model and the dataset's shared inversion). A ResNet-18
# is trained on each and on the real set, per seed (each seed samples its own sets); top-1 on the real test set.
# The paper's BigGAN rows (random latents, GAN inversion) need a pre-trained BigGAN and are skipped where no
# implementation exists.
# Parameters and claims: `config/experiments/di_fig5_generator_quality.yaml`.

# %% tags=["parameters"]
experiment = "di_fig5_generator_quality"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
config_dir = ""

# %%
from repro.classifiers import TrainingData
from repro.errors import ReproError
from repro.experiments import ExperimentRun, TrainingGrid, claims, test_set, training_set
from repro.experiments.plots import bars, summary_table
from repro.experiments.sweeps import expand, generator_inversion, sample

run = ExperimentRun.from_globals(globals())
TABLE = "Figure 5"
REAL = "Real"
PAPER_ONLY = {"biggan_random": "BigGAN (random latents)", "gan_inversion": "GAN Inversion"}
unknown = sorted(set(methods) - {"real", "diffusion_inversion"} - set(PAPER_ONLY))
if unknown:
    raise ReproError(
        f"unknown Figure 5 methods {unknown}; choose among real, diffusion_inversion, {', '.join(PAPER_ONLY)}"
    )
for method in methods:
    if method in PAPER_ONLY:
        print(
            f"skipped {PAPER_ONLY[method]}: repro has no BigGAN generator or GAN inversion (it needs the "
            f"pre-trained CIFAR BigGAN of Zhao and Bilen, gan = {gan}, pixel-loss weight "
            f"{gan_inversion_lambda_pixel}, not obtainable offline)"
        )


def di_label(fraction):
    return f"Diffusion Inversion ({fraction:.0%} pretrained generator)"


# %%
(setting,) = expand(run.params)  # the base sampling settings (Figure 5 sweeps the generator, not them)
fractions = sorted(pretrain_fractions) if "diffusion_inversion" in methods else []
# the classifiers of every dataset, seed and set, trained side by side on the GPU
with TrainingGrid(run, arch=arch, steps=train_steps, batch_size=batch_size) as grid:
    for dataset in datasets:
        train = training_set(dataset, per_class, scale, data_root)
        test = test_set(dataset, test_per_class, data_root)
        inversions = {fraction: generator_inversion(run, dataset, train, fraction) for fraction in fractions}
        for seed in seeds:
            sets = {(REAL, None): TrainingData(real=train)} if "real" in methods else {}
            for fraction, (inversion, unet) in inversions.items():
                synthetic = sample(
                    run, inversion, setting, ids=train.ids, seed=seed, prefix=f"sample-{dataset}", unet_weights=unet
                )
                sets[(di_label(fraction), fraction)] = TrainingData(synthetic=synthetic.subset(train.ids, per_image))
            for (method, fraction), data in sets.items():
                grid.add(
                    table=TABLE,
                    row=dataset,
                    data=data,
                    tests={method: test},
                    dataset=dataset,
                    seed=seed,
                    method=method,
                    pretrain_fraction=fraction,
                )
summary_table(run, TABLE)

# %%
bars(
    run,
    table=TABLE,
    group="row",
    series="column",
    name="figure5",
    title="equal-size training sets: real vs DI with generators of growing quality",
)

# %% [markdown]
# ## Claims
#
# Every comparison counts only beyond the seeds' noise (`repro.experiments.claims`). GAN inversion against the
# random BigGAN is this suite's extension, not the paper's claim.

# %%
frame = run.frame()
acc = claims.cells(frame[frame["table"] == TABLE], ["dataset", "column"])
# the generator-quality ladder, weakest first: DI by pretraining, above the paper's GAN rows where measured
ladder = [di_label(f) for f in fractions]
gans = [label for label in PAPER_ONLY.values() if label in set(frame["column"])]
run.judge("generator_quality_matters", claims.ladder_rises(acc, datasets, ladder, gans))
run.judge(
    "gan_inversion_beats_random_biggan",
    claims.everywhere(acc, datasets, PAPER_ONLY["gan_inversion"], PAPER_ONLY["biggan_random"]),
)
run.judge(
    "real_denser_than_equal_size_synthetic",
    claims.everywhere(acc, datasets, REAL, di_label(1.0)),
    note=f"equal sizes: {per_image} variant per real image",
)
run.save()
