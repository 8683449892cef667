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
    log:
        failed=f"logs/{{scale}}/{{id}}.failed.ipynb",
    wildcard_constraints:
        scale=SCALE,
        id="|".join(e.id for e in RUNNABLE) or "no-runnable-experiment",
    params:
        out=lambda w: f"{RESULTS}/{w.scale}/{w.id}",
        device=CONFIG["device"],
    resources:
        gpu=GPUS,
        kernels=1,
    retries: 1
    shell:
        "repro run {wildcards.id} --scale {wildcards.scale} --out {params.out} --executed {output.executed} "
        "--failed {log.failed} --device {params.device} {DATA_ARG}"
