# Shared by the .smk files: the command prefix, what each scale's jobs ask of the machine, and every function
# that a rule calls (functions live here, rules in their own files).
import os
import shlex

from repro.workflow.jobstats import GPU_PEAK_FILE_ENV

DATA_ROOT = CONFIG["data_root"]
DATA_ARG = f"--data-root {shlex.quote(DATA_ROOT)}" if DATA_ROOT else ""
# `{data}` in asset args (third-party weights in the data folder): data_root, else $REPRO_DATA
DATA_DIR = DATA_ROOT or os.environ.get("REPRO_DATA", "")
DATA_DIR = os.path.abspath(DATA_DIR) if DATA_DIR else ""
# Jobs that use the generator or train networks ask for a GPU at mini and paper scale; smoke runs on CPU.
GPUS = 0 if SCALE == "smoke" else 1
SEEDS_ARG = f"--seeds {','.join(map(str, CONFIG['seeds']))}" if CONFIG["seeds"] else ""
ASSETS = SCALE_SPEC.get("assets", {})
# how many of the selected notebooks wait for each asset: the most awaited start first
ASSET_DEMAND = asset_demand(RUNNABLE, SCALE, SCALE_SPEC)
# Each asset and experiment job's time and memory (Snakemake's benchmark), and its peak GPU memory beside it.
BENCHMARKS = "benchmarks"


# Where the short name `mini` points at this scale (smoke: a generator its own DAG pretrains in CPU steps).
MINI_GENERATOR = work_path(SCALE_SPEC["mini_generator"], WORK) if "mini_generator" in SCALE_SPEC else ""
ENV = f"REPRO_MINI_GENERATOR={shlex.quote(os.path.abspath(MINI_GENERATOR))} " if MINI_GENERATOR else ""


def record_gpu_peak(job):
    """The shell prefix that has a job's `repro` processes record their peak GPU memory beside its benchmark,
    benchmarks/<scale>/<job>.gpu.jsonl (repro.workflow.jobstats), in a file of this run alone."""
    path = shlex.quote(f"{BENCHMARKS}/{SCALE}/{job}.gpu.jsonl")
    return f"rm -f {path} && {GPU_PEAK_FILE_ENV}={path} "


def asset_folder(name):
    if name not in ASSETS:
        raise ValueError(f"asset {name!r} is not declared in config/scales/{SCALE}.yaml (known: {sorted(ASSETS)})")
    return f"{WORK}/assets/{name}"


def assets_for(experiment):
    """Folders of the assets an experiment uses at this scale (transitively built by Snakemake)."""
    return [asset_folder(n) for n in needed_assets(experiment, SCALE, SCALE_SPEC)]


def asset_command(name, out):
    """The asset's `repro` command line from config/scales/<scale>.yaml, writing into `out` (`{out}`)."""
    spec = ASSETS[name]
    flags = []
    for key, value in spec.get("args", {}).items():
        flag = f"--{key.replace('_', '-')}"
        if isinstance(value, bool):  # a switch: present when true
            flags += [flag] if value else []
            continue
        value = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        if "{data}" in value and not DATA_DIR:
            raise ValueError(
                f"asset {name!r} reads {value!r} from the data folder, but none is set: set "
                "$REPRO_DATA or --config data_root=..."
            )
        value = work_path(value, WORK).replace("{out}", out).replace("{data}", DATA_DIR)
        flags.append(f"{flag} {shlex.quote(value)}")
    data = DATA_ARG if spec.get("data", True) else ""
    return f"repro {spec['command']} {' '.join(flags)} {data}".strip()


def registry_files(ids):
    """config/experiments/<id>.yaml of each id and the base file their params build on, relative: the jobs'
    command lines name the config folder by the first."""
    folder = CONFIG_DIR / "experiments"
    files = [folder / f"{i}.yaml" for i in ids] + [folder / BASE_FILE]
    return [os.path.relpath(f) for f in files if f.exists()]


def config_dir_of(wildcards, input):
    """The config folder holding a job's registry input (so a moved checkout reruns nothing)."""
    return os.path.dirname(os.path.dirname(input.registry[0]))


def experiment_inputs(wildcards):
    experiment = REGISTRY[wildcards.id]
    return {
        "notebook": str(experiment.notebook.relative_to(workflow.basedir)),
        "registry": registry_files([wildcards.id]),
        "assets": assets_for(experiment),
    }


def experiment_gpus(wildcards):
    """The GPU slots an experiment job asks for: every slot (config gpu_jobs, as Snakemake's --resources gpu=N)
    for one that measures run time, so that no other job shares the GPU while it times; else one."""
    return GPUS * CONFIG["gpu_jobs"] if REGISTRY[wildcards.id].timed else GPUS
