# Regenerate every table and figure of Diffusion Inversion and DDIS.
#   snakemake --cores all                          # scale smoke (CPU, minutes)
#   snakemake --cores all --config scale=mini      # one GPU, the mini world
#   snakemake --cores all --config scale=paper --profile profiles/slurm
# The config is validated (config/schema/); the registry of artifacts is config/experiments/<id>.yaml.
from pathlib import Path

from snakemake.utils import min_version

from repro.workflow.registry import (
    BASE_FILE,
    asset_demand,
    load_config,
    load_registry,
    load_scale,
    needed_assets,
    select,
    work_path,
)

min_version("8.10")


configfile: "config/config.yaml"


# The project's config folder, named explicitly: the package never guesses where the checkout is.
CONFIG_DIR = Path(workflow.basedir) / "config"
CONFIG = load_config(CONFIG_DIR, config)
SCALE = CONFIG["scale"]
SCALE_SPEC = load_scale(CONFIG_DIR, SCALE)
REGISTRY = load_registry(CONFIG_DIR)
SELECTED = select(REGISTRY, CONFIG["experiments"])
# An artifact runs when its scale entry has parameters and its notebook exists; the report explains the rest.
RUNNABLE = [e for e in SELECTED if not e.skip_reason(SCALE) and e.notebook.exists()]
RESULTS = CONFIG["results_dir"]
REPORTS = CONFIG["reports_dir"]
WORK = f"{CONFIG['work_dir']}/{SCALE}"


include: "rules/common.smk"
include: "rules/assets.smk"
include: "rules/experiments.smk"
include: "rules/reports.smk"
include: "rules/pretrain.smk"


# The result folders and the jobs table are targets too, not only the report's inputs: Snakemake rebuilds a
# missing file only for a job that must run, and a report that is up to date needs nothing, so a deleted result
# folder would go unnoticed. As targets, the one that is missing reruns, and the jobs table and report after it.
rule all:
    default_target: True
    input:
        runs=rules.report.input.runs,
        jobs=rules.jobs.output,
        report=rules.report.output,
