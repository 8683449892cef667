# One job per paper artifact: papermill executes notebooks/<name>.py with the registry's parameters for the
# scale. Its output is the artifact's folder results/<scale>/<id>/: results.csv, claims.csv where it tests a
# claim, its figures and the executed notebook. A notebook that raises keeps its executed copy (traceback
# included) and the rows it had measured under logs/<scale>/, as Snakemake deletes the folder of a failed job.
# The notebook's own resumable work lives in work/<scale>/<id>/, undeclared for the reason given in assets.smk.


rule experiment:
    input:
        unpack(experiment_inputs),
    output:
        folder=directory(f"{RESULTS}/{{scale}}/{{id}}"),
    log:
        f"logs/{{scale}}/{{id}}.log",
    benchmark:
        f"{BENCHMARKS}/{{scale}}/{{id}}.tsv"
    wildcard_constraints:
        scale=SCALE,
        id="|".join(e.id for e in RUNNABLE) or "no-runnable-experiment",
    retries: 1
    conda:
        "../envs/repro.yaml"
    resources:
        gpu=experiment_gpus,
        kernels=1,
    params:
        env=ENV,
        record=lambda w: record_gpu_peak(w.id),
        config_dir=config_dir_of,
        executed=lambda w, output: f"{output.folder}/{w.id}.ipynb",
        # not a Snakemake log (which it would create empty): the report reads its presence as "the notebook raised"
        failed=lambda w: f"logs/{w.scale}/{w.id}.failed.ipynb",
        device=CONFIG["device"],
        work=CONFIG["work_dir"],
        seeds=SEEDS_ARG,
        data=DATA_ARG,
    shell:
        "{params.record}{params.env}repro run {wildcards.id} --config-dir {params.config_dir} --scale {wildcards.scale} "
        "--out {output.folder} --executed {params.executed} --failed {params.failed} --device {params.device} "
        "--work-dir {params.work} {params.seeds} {params.data} > {log} 2>&1"
