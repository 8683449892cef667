# One job per paper artifact: papermill executes notebooks/<name>.py with the registry's parameters for the
# scale. The executed notebook is kept beside the CSVs; a failing one is kept under logs/ with its traceback.


def experiment_inputs(wildcards):
    experiment = REGISTRY[wildcards.id]
    return {
        "notebook": str(experiment.notebook.relative_to(workflow.basedir)),
        "registry": f"config/experiments/{wildcards.id}.yaml",
        "assets": assets_for(experiment),
    }


rule experiment:
    input:
        unpack(experiment_inputs),
    output:
        executed=f"{RESULTS}/{{scale}}/{{id}}/{{id}}.ipynb",
        results=f"{RESULTS}/{{scale}}/{{id}}/results.csv",
    wildcard_constraints:
        scale=SCALE,
        id="|".join(e.id for e in RUNNABLE) or "no-runnable-experiment",
    params:
        out=lambda w: f"{RESULTS}/{w.scale}/{w.id}",
        # not a Snakemake log (which it creates empty): the report reads its presence as "the notebook raised"
        failed=lambda w: f"logs/{w.scale}/{w.id}.failed.ipynb",
        device=CONFIG["device"],
        seeds=f"--seeds {','.join(map(str, CONFIG['seeds']))}" if CONFIG["seeds"] else "",
    resources:
        gpu=GPUS,
        kernels=1,
    retries: 1
    shell:
        "{ENV}repro run {wildcards.id} --scale {wildcards.scale} --out {params.out} --executed {output.executed} "
        "--failed {params.failed} --device {params.device} --work-dir {CONFIG[work_dir]} {params.seeds} {DATA_ARG}"
