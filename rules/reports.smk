# The report: an index with the status of every artifact and one page per artifact, our numbers beside the
# paper's, the scoreboard of the claims and the time and memory of every job, rendered from the result folders of
# this scale into reports/<scale>/ (Markdown and HTML). Artifacts that do not run at this scale appear with the
# reason.
#
# The jobs table gathers what every asset and experiment job recorded under benchmarks/<scale>/ (its benchmark
# and its GPU peak) into results/<scale>/jobs.csv, committed with the results. It runs after every experiment,
# so after every asset too, and is a rule of its own: rendering the report again, on a machine without the
# benchmarks, leaves the table of the run that made the results as it was.


rule jobs:
    input:
        runs=[f"{RESULTS}/{SCALE}/{e.id}" for e in RUNNABLE],
    output:
        table=f"{RESULTS}/{SCALE}/jobs.csv",
    log:
        f"logs/{SCALE}/jobs.log",
    conda:
        "../envs/repro.yaml"
    params:
        scale=SCALE,
        benchmarks=f"{BENCHMARKS}/{SCALE}",
    shell:
        "repro jobs --scale {params.scale} --benchmarks {params.benchmarks} --out {output.table} > {log} 2>&1"


rule report:
    input:
        runs=[f"{RESULTS}/{SCALE}/{e.id}" for e in RUNNABLE],
        jobs=rules.jobs.output.table,
        registry=registry_files(e.id for e in SELECTED),
    output:
        pages=directory(f"{REPORTS}/{SCALE}"),
    log:
        f"logs/{SCALE}/report.log",
    conda:
        "../envs/repro.yaml"
    params:
        # a scale that pretrains its own generator (smoke) compares the rows' weights with that one's
        env=ENV,
        config_dir=config_dir_of,
        scale=SCALE,
        ids=",".join(e.id for e in SELECTED),
    shell:
        "{params.env}repro report --config-dir {params.config_dir} --scale {params.scale} --experiments {params.ids} "
        "--out {output.pages} --runs {input.runs} --jobs {input.jobs} > {log} 2>&1"
