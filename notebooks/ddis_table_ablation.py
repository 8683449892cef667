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
# # DDIS, Ablation Study (PACS art painting): Domain Alignment Guidance and the Class Alignment Token
#
# With the PACS art painting teacher, every class is sampled per seed in the four modes of the DDIS sampler:
# vanilla (prompt "a {class}"), +CAT (class tokens learned *without* DAG, here), +DAG (vanilla prompt, DAG on
# z_t) and DDIS (both; the class tokens learned with DAG are the shared asset `tokens_pacs_art_painting`). All
# four use the same sampler settings and generation batch, so DAG's batch statistics are alike. Each set is
# scored against the real art painting training images: IS, FID, precision and recall on the scale's features
# (`pool-resnet18` offline). Parameters, claims and the paper's numbers: `config/experiments/ddis_table_ablation.yaml`.

# %% tags=["parameters"]
experiment = "ddis_table_ablation"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
config_dir = ""

# %%
from dataclasses import asdict

from repro.ddis import (
    SAMPLE_BATCH,
    CATConfig,
    ClassTokens,
    DAGConfig,
    DDISSampler,
    SamplerConfig,
    cached_class_tokens,
    load_teacher,
    sample_dataset,
    teacher_checkpoint,
)
from repro.ddis.cat import token_settings
from repro.ddis.names import metric_label, variant_row
from repro.experiments import ExperimentRun, Synthetic, claims, training_set
from repro.experiments.generate import generator as generator_bundle
from repro.experiments.plots import bars, summary_table
from repro.experiments.quality import image_metrics, record_metrics
from repro.provenance import timed

run = ExperimentRun.from_globals(globals())
TABLE = "Ablation Study (PACS Art Painting)"
bundle = generator_bundle(run, generator, dtype)
cat_config = CATConfig(
    lr=cat_lr,
    epochs=cat_max_epochs,
    accumulation=cat_grad_accumulation,
    images_per_step=cat_batch,
    stop_share=cat_stop_accuracy,
)

# %%
for dataset, arch in teachers.items():
    teacher = load_teacher(teacher_checkpoint(run, dataset, arch), run.device, arch=arch)
    real = training_set(dataset, "all", scale, data_root)
    sampling = SamplerConfig(
        steps=inference_steps,
        prompt=cat_prompt,
        resolution=resolution,
        teacher_resolution=teacher.resolution,
        dag=DAGConfig(step_rms=dag_step_rms),
    )
    # the class tokens of the two CAT modes, by mode: DDIS's are the shared asset (learned with DAG), +CAT's are
    # learned here with the same settings but without DAG
    tokens = {"ddis": ClassTokens.load(run.assets.checked(f"tokens_{dataset}", run.params) / "tokens.safetensors")}
    if "cat" in variants:
        learned_without_dag = token_settings(sampling, cat_config, False, 0, bundle, teacher)
        folder = run.scratch(f"{dataset}-tokens-without-dag", learned_without_dag)
        tokens["cat"] = cached_class_tokens(
            folder / "tokens.safetensors", bundle, teacher, real.classes, sampling, cat_config, use_dag=False
        )
    for seed in seeds:
        for variant in variants:
            sampler = DDISSampler(bundle, real.classes, variant, teacher, tokens.get(variant), sampling)
            folder = run.scratch(
                f"{dataset}-{variant}-seed{seed}",
                {
                    "sampling": asdict(sampling),
                    "per_class": images_per_class,
                    "weights": bundle.fingerprint,
                    "teacher": teacher.fingerprint,
                    "tokens": tokens[variant].metadata if variant in tokens else None,
                },
            )
            with timed() as sampling_wall:
                sample_dataset(sampler, images_per_class, SAMPLE_BATCH, folder, seed, progress=False)
            fake = Synthetic(folder).subset(resolution=real.resolution).images
            scores = image_metrics(
                run,
                real.images,
                fake,
                features=features,
                convention=metric_convention,
                metrics=metrics,
                samples=metric_samples,
                seed=seed,
            )
            record_metrics(
                run,
                scores,
                tables={TABLE: metrics},
                row=variant_row(variant),
                seed=seed,
                wall_seconds=sampling_wall(),
                dataset=dataset,
                teacher=arch,
                variant=variant,
            )
summary_table(run, TABLE)

# %%
for metric in metrics:  # one panel per metric: their scales differ by orders of magnitude
    bars(
        run,
        table=TABLE,
        where={"metric": metric},
        group="dataset",
        series="row",
        ylabel=f"{metric}@{features}",
        name=f"ablation_{metric}",
        title=f"{metric_label(metric)}: mean ± std over {len(seeds)} sampling seed(s)",
    )

# %% [markdown]
# ## Claim
#
# Every comparison counts only beyond the sampling seeds' noise (`repro.experiments.claims`).

# %%
quality = claims.cells(run.frame().query("table == @TABLE"), ["dataset", "variant", "metric"])
run.judge(
    "dag_cat_complementary",
    claims.all_of(
        [
            part
            for d in teachers
            for part in (
                claims.better_on_metrics(
                    quality, (d, "ddis"), [(d, v) for v in ("vanilla", "cat", "dag")], ["fid", "precision"]
                ),
                claims.better_on_metrics(quality, (d, "dag"), [(d, "vanilla")], ["fid"]),
                claims.better_on_metrics(quality, (d, "cat"), [(d, "vanilla")], ["precision"]),
            )
        ]
    ),
    note=f"{features} features, {metric_convention}",
)
run.save()
