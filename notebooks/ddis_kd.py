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
# # DDIS, data-free knowledge distillation
#
# Each teacher is distilled into its student on synthetic images only: the DDIS set and the DeepInversion set
# of the main results (shared assets `ddis_<dataset>`, `deepinversion_<dataset>`), with the teacher's softened
# outputs as the only target (`repro.ddis.distill`: Hinton's KD term, the classifier layer's SGD recipe, the
# same budget for both sets). The student is then scored on the real test set, one student per seed, each
# distilled on the sets sampled with its seed (`<asset>_seed<s>`, seed 0 the plain asset); the teacher's own
# top-1 on the same test set is reported beside. Plug-In Inversion is not run (see below).
# Parameters, claims and the paper's numbers: `config/experiments/ddis_kd.yaml`.

# %% tags=["parameters"]
experiment = "ddis_kd"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work/smoke"
device = "auto"
config_dir = ""

# %%
from repro.baselines.deepinversion import PLUG_IN_INVERSION_NOT_RUN
from repro.classifiers import evaluate
from repro.ddis import distill, load_teacher, teacher_checkpoint
from repro.ddis.names import method_column, pair_row
from repro.experiments import ExperimentRun, claims, test_set
from repro.experiments.plots import bars, summary_table

run = ExperimentRun.from_globals(globals())
TABLE = "Key Findings (data-free knowledge distillation)"

# %%
for dataset, arch in teachers.items():
    student, row = students[dataset], pair_row(dataset, arch, students[dataset])
    teacher = load_teacher(teacher_checkpoint(run, dataset, arch), run.device, arch=arch)
    test = test_set(dataset, test_per_class, data_root)
    run.assets.checked(f"tokens_{dataset}", run.params)  # DDIS's class tokens: their settings are this file's
    run.record(
        table=TABLE,
        row=row,
        column="Teacher (reference)",
        unit="%",
        dataset=dataset,
        teacher=arch,
        student=student,
        method="teacher",
        value=evaluate(teacher, test.images, test.labels, device=run.device),
    )
    for method in methods:
        if method == "plug_in_inversion":
            print(f"{row}: skipped. {PLUG_IN_INVERSION_NOT_RUN}")
            continue
        for seed in seeds:
            folder = run.assets.for_seed(f"{method}_{dataset}", run.params, seed)  # the seed's own synthetic set
            result = distill(
                teacher, folder, test, student, train_steps, batch_size, seed=seed, device=run.device, progress=False
            )
            run.record(
                table=TABLE,
                row=row,
                column=method_column(method),
                value=result["student_accuracy"],
                unit="%",
                seed=seed,
                wall_seconds=result["train_seconds"],
                dataset=dataset,
                teacher=arch,
                student=student,
                method=method,
                synthetic_images=result["synthetic_images"],
                train_steps=result["train_steps"],
                batch_size=batch_size,
            )
summary_table(run, TABLE)

# %%
bars(
    run,
    table=TABLE,
    group="row",
    series="column",
    name="kd",
    title="student top-1 on the real test set after distillation on synthetic images only",
)

# %% [markdown]
# ## Claims
#
# Every comparison counts only beyond the seeds' noise (`repro.experiments.claims`); a seed samples its own
# synthetic sets (the `<asset>_seed<s>` assets) and trains its own student.

# %%
top1 = claims.cells(run.frame().query("table == @TABLE"), ["row", "column"])
run.judge(
    "ddis_distils_better_student",
    claims.everywhere(
        top1,
        [pair_row(d, a, students[d]) for d, a in teachers.items()],
        method_column("ddis"),
        method_column("deepinversion"),
    ),
)
run.claim(
    "ddis_distils_better_student_than_plug_in_inversion",
    None,
    f"undecided: no Plug-In Inversion images to distil on. {PLUG_IN_INVERSION_NOT_RUN}",
)
run.save()
