# The report: an index with the status of every artifact and one page per artifact, our numbers beside the
# paper's. Artifacts that do not run at this scale appear with the reason.


rule report:
    input:
        results=[f"{RESULTS}/{SCALE}/{e.id}/results.csv" for e in RUNNABLE],
        registry=[f"config/experiments/{e.id}.yaml" for e in SELECTED],
    output:
        index=f"{REPORTS}/{SCALE}/index.md",
        html=f"{REPORTS}/{SCALE}/index.html",
    params:
        ids=",".join(e.id for e in SELECTED),
    shell:
        "repro report --scale {SCALE} --results {RESULTS} --reports {REPORTS} --experiments {params.ids}"
