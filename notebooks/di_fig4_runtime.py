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
# # Diffusion Inversion, Figure 4 and appendix C.1: run time
#
# Embedding learning plus sampling at the target resolution against standard 512 px text-to-image sampling.
# Each case of `cases` is timed through the experiments' own code (`repro.experiments.timing`: stage-1
# `GroupTrainer` steps and stage-2 `Sampler.generate`): a case with the text encoder is standard sampling from
# prompts; one without it at a standard case's resolution is the same sampling with the conditioning given; any
# other case samples from learned embeddings at its target resolution, and its embedding learning is timed too.
# `timed_steps` / `timed_inference_steps` steps are timed after a warm-up (`repeats` times) and the times per
# image are projected to `inversion_steps` / `inference_steps` from the measured cost per step; every row says
# whether it is measured or projected. The paper measured SD v1.4 on an Nvidia A40; our device differs (the
# `device` column), so the speed-ups, not the seconds, are comparable. Parameters, claims and the paper's numbers:
# `config/experiments/di_fig4_runtime.yaml`.

# %% tags=["parameters"]
experiment = "di_fig4_runtime"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
config_dir = ""

# %%
from functools import partial

from repro.experiments import ExperimentRun, claims, timing
from repro.experiments.generate import generator as load_bundle
from repro.experiments.plots import bars, summary_table
from repro.generators.bundle import generator_label
from repro.inversion import InversionConfig
from repro.sampling import SamplingConfig

run = ExperimentRun.from_globals(globals())
grid = timing.runtime_cases(cases)
# the rows name each case's weights (``mini (<fingerprint>)``), so the report can tell numbers of older weights
labels = {case.generator: generator_label(case.generator) for case in grid}
PAPER_DATASETS = {256: "ImageNette/STL10", 128: "CIFAR10/100"}  # the paper's datasets at its target resolutions
FIGURE = "Figure 4"
print(f"timing on {run.provenance.device} (the paper: one Nvidia A40)")


def table_of(case):
    """SD-v1.4-shaped cases line up with the paper's appendix C.1; other generators get their own table."""
    return "Appendix C.1" if case.generator in timing.SD14_SHAPED else f"Appendix C.1 ({case.generator} generator)"


def px(resolution):
    return f"{resolution}x{resolution}"


def dataset_label(case, with_px=True):
    if case.generator in timing.SD14_SHAPED and case.resolution in PAPER_DATASETS:
        name = PAPER_DATASETS[case.resolution]
        return f"{name} ({px(case.resolution)})" if with_px else name
    return px(case.resolution)


# %% [markdown]
# ## Timing every case

# %%
measured = {}  # (case, seed, repeat) -> {"image": Cost, "embedding": Cost or None}
for case in grid:
    bundle = load_bundle(run, case.generator, dtype)
    latent = bundle.latent_size(case.resolution)
    sampling = SamplingConfig(steps=timed_inference_steps, precision=dtype)
    inversion = InversionConfig(steps=inversion_steps, resolution=case.resolution, precision=dtype)
    for seed in seeds:
        for repeat in range(repeats):
            fields = dict(
                seed=seed,
                generator=labels[case.generator],
                resolution=case.resolution,
                text_encoder=case.text_encoder,
                role=case.role,
                repeat=repeat,
                dtype=dtype,
            )
            sampled, batch = timing.fit_batch(
                partial(
                    timing.time_sampling,
                    bundle,
                    sampling,
                    resolution=case.resolution,
                    text_encoder=case.text_encoder,
                    seed=seed,
                ),
                sampling_batch,
                run.device,
            )
            image = timing.image_cost(sampled)
            one = dict(
                value=image.at(inference_steps),
                unit="s",
                wall_seconds=sampled["generate_seconds"],
                projected=image.projected(inference_steps),
                projection=image.projection(inference_steps),
                batch=batch,
                seconds_per_step=image.per_step,
                **fields,
            )
            encoder = "with" if case.text_encoder else "without"
            run.record(
                table=table_of(case),
                row=f"one image, {inference_steps} steps",
                column=f"({latent}, {latent}, {bundle.latent_channels}) {encoder} text encoder",
                **one,
            )
            if case.role != timing.NO_TEXT_ENCODER:
                kind = "standard" if case.role == timing.STANDARD else "learned embedding"
                run.record(
                    table=table_of(case),
                    row=f"sampling one image, {inference_steps} steps",
                    column=f"{px(case.resolution)} {kind}",
                    **one,
                )
            embedding = None
            if case.learns_embedding:
                learned, ebatch = timing.fit_batch(
                    partial(timing.time_inversion, bundle, inversion, steps=timed_steps, seed=seed),
                    embedding_batch,
                    run.device,
                )
                embedding = timing.embedding_cost(learned)
                run.record(
                    table=table_of(case),
                    row=f"embedding learning, {inversion_steps} steps",
                    column=px(case.resolution),
                    value=embedding.at(inversion_steps),
                    unit="s",
                    wall_seconds=learned["sec_per_step"] * timed_steps,
                    batch=ebatch,
                    projected=embedding.projected(inversion_steps),
                    projection=embedding.projection(inversion_steps),
                    seconds_per_step=embedding.per_step,
                    **fields,
                )
            measured[(case, seed, repeat)] = {"image": image, "embedding": embedding}
summary_table(run, table_of(grid[0]))

# %% [markdown]
# ## Totals per embedding and speed-ups over standard sampling
#
# Per repeat: one embedding plus `per_image` samples from it against `per_image` standard samples, from the
# measured (or projected) costs above.

# %%
pairs = [(case, timing.standard_for(case, grid)) for case in grid if case.learns_embedding]
for (case, seed, repeat), cost in measured.items():
    fields = dict(
        seed=seed, generator=labels[case.generator], resolution=case.resolution, repeat=repeat, projected=True
    )
    image = cost["image"].at(inference_steps)
    samples = per_image * image
    steps_note = f"one image: {cost['image'].projection(inference_steps)}"
    if case.role == timing.STANDARD:
        label = "Stable Diffusion" if case.generator in timing.SD14_SHAPED else case.generator
        note = f"{per_image} x one image ({steps_note})"
        run.record(
            table=table_of(case),
            row=f"standard {label} sampling of {per_image} images",
            column=px(case.resolution),
            value=samples,
            unit="s",
            projection=note,
            **fields,
        )
        run.record(
            table=FIGURE,
            row=case.label,
            column=f"{per_image} samples",
            value=samples,
            unit="s",
            projection=note,
            **fields,
        )
        run.record(table=FIGURE, row=case.label, column="total", value=samples, unit="s", projection=note, **fields)
    if not case.learns_embedding:
        continue
    embedding = cost["embedding"].at(inversion_steps)
    note = f"embedding: {cost['embedding'].projection(inversion_steps)}; {per_image} x one image ({steps_note})"
    total = embedding + samples
    run.record(
        table=table_of(case),
        row=f"embedding learning + {per_image} samples",
        column=dataset_label(case),
        value=total,
        unit="s",
        projection=note,
        **fields,
    )
    for column, value in (("embedding learning", embedding), (f"{per_image} samples", samples), ("total", total)):
        run.record(table=FIGURE, row=case.label, column=column, value=value, unit="s", projection=note, **fields)
    standard = timing.standard_for(case, grid)
    if standard is None:
        continue  # no standard sampling of this generator to compare with
    reference = measured[(standard, seed, repeat)]["image"].at(inference_steps)
    speedup = reference / image
    run.record(
        table=table_of(case),
        row=f"speed-up over {px(standard.resolution)}",
        column=px(case.resolution),
        value=speedup,
        unit="x",
        projection=f"ratio of one image each ({steps_note})",
        **fields,
    )
    if case.generator in timing.SD14_SHAPED:
        run.record(
            table="text, section 4",
            row="image generation time reduction",
            column=px(case.resolution),
            value=speedup,
            unit="x",
            projection=f"ratio of one image each ({steps_note})",
            **fields,
        )
    run.record(
        table=table_of(case),
        row="speed-up of the total over standard sampling",
        column=dataset_label(case, with_px=False),
        value=per_image * reference / total,
        unit="x",
        projection=note,
        **fields,
    )
summary_table(run, FIGURE)

# %%
bars(
    run,
    table=FIGURE,
    group="row",
    series="column",
    ylabel=f"seconds per embedding ({per_image} images)",
    name="figure4",
    title=f"time to make {per_image} images: learned embedding vs standard sampling",
)

# %% [markdown]
# ## Claims
#
# Each learned-embedding case is compared with the standard (text-encoder) case of its own generator over the
# repeats and seeds, counted only beyond their noise (`repro.experiments.claims`). Times measured on this run's
# device; the speed-ups above stand beside the paper's (A40).

# %%
compared = [(c, s) for c, s in pairs if s is not None]
where = f"times on {run.provenance.device}, paper on an Nvidia A40; speed-ups in the tables above"


def per_image_time(case):
    kind = "standard" if case.role == timing.STANDARD else "learned embedding"
    return run.cell(table_of(case), f"sampling one image, {inference_steps} steps", f"{px(case.resolution)} {kind}")


def standard_total(standard):
    label = "Stable Diffusion" if standard.generator in timing.SD14_SHAPED else standard.generator
    return run.cell(table_of(standard), f"standard {label} sampling of {per_image} images", px(standard.resolution))


if compared:
    run.judge(
        "target_resolution_sampling_faster",
        claims.all_of(
            [
                claims.less(
                    per_image_time(case),
                    per_image_time(standard),
                    f"{case.generator} {px(case.resolution)} - {px(standard.resolution)} standard (s per image)",
                )
                for case, standard in compared
            ]
        ),
        note=where,
    )
    run.judge(
        "total_time_below_standard_sampling",
        claims.all_of(
            [
                claims.less(
                    run.cell(table_of(case), f"embedding learning + {per_image} samples", dataset_label(case)),
                    standard_total(standard),
                    f"{case.generator} {px(case.resolution)}: embedding + {per_image} samples - {per_image} "
                    "standard samples (s)",
                )
                for case, standard in compared
            ]
        ),
        note=where,
    )
else:
    why = claims.Unmeasured("no learned-embedding case has a standard (text-encoder) case of its generator in `cases`")
    run.judge("target_resolution_sampling_faster", why)
    run.judge("total_time_below_standard_sampling", why)
run.save()
