# The report: an index with the status of every artifact and one page per artifact, our numbers beside the
# paper's, rendered from the result folders of this scale into reports/<scale>/ (Markdown and HTML). Artifacts
# that do not run at this scale appear with the reason.


rule report:
    input:
        runs=[f"{RESULTS}/{SCALE}/{e.id}" for e in RUNNABLE],
        registry=registry_files(e.id for e in SELECTED),
    output:
        pages=directory(f"{REPORTS}/{SCALE}"),
    log:
        f"logs/{SCALE}/report.log",
    conda:
        "../envs/repro.yaml"
    params:
        config_dir=config_dir_of,
        scale=SCALE,
        ids=",".join(e.id for e in SELECTED),
    shell:
        "repro report --config-dir {params.config_dir} --scale {params.scale} --experiments {params.ids} "
        "--out {output.pages} --runs {input.runs} > {log} 2>&1"
