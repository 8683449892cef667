# Shared intermediate assets (prepared data, embeddings, synthetic datasets, generators, teachers): each is one
# `repro` command declared in config/scales/<scale>.yaml under `assets`, computed once and reused by every
# experiment that lists it.
#
# The declared output is the asset's folder, work/<scale>/assets/<name>/. Snakemake deletes a job's outputs
# before it runs and after it fails (a `directory()` output with everything in it), so a long command that
# was killed would lose its work if it wrote there directly. It writes into <name>.partial/ instead, which
# Snakemake does not know about and never deletes: a rerun resumes from what is there (every command resumes,
# and refuses a folder made with other settings), and the folder is moved into place only when the command
# succeeded. So the declared folder exists exactly when the asset is complete.


rule asset:
    input:
        lambda w: [asset_folder(dep) for dep in ASSETS[w.name].get("needs", [])],
    output:
        folder=directory(f"{WORK}/assets/{{name}}"),
    log:
        f"logs/{SCALE}/assets/{{name}}.log",
    benchmark:
        f"{BENCHMARKS}/{SCALE}/assets/{{name}}.tsv"
    wildcard_constraints:
        name="|".join(ASSETS) or "no-asset",
    priority: lambda w: ASSET_DEMAND[w.name]
    conda:
        "../envs/repro.yaml"
    resources:
        gpu=lambda w: GPUS if ASSETS[w.name].get("gpu", True) else 0,
    params:
        env=ENV,
        record=lambda w: record_gpu_peak(f"assets/{w.name}"),
        partial=lambda w, output: f"{output.folder}.partial",
        command=lambda w, output: asset_command(w.name, f"{output.folder}.partial"),
    shell:
        "mkdir -p {params.partial} && {params.record}{params.env}{params.command} > {log} 2>&1 "
        "&& mv {params.partial} {output.folder}"
