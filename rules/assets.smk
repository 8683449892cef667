# Shared intermediate assets (prepared data, embeddings, synthetic datasets, generators, teachers): each is
# one `repro` command declared in config/scales/<scale>.yaml under `assets`, computed once and reused by every
# experiment that lists it. The command writes into work/<scale>/assets/<name>/ and resumes from what is
# there; only the `.done` marker is the declared output, so a killed job keeps its partial work.
import shlex

ASSETS = SCALE_SPEC.get("assets", {})


def asset_marker(name):
    if name not in ASSETS:
        raise ValueError(f"asset {name!r} is not declared in config/scales/{SCALE}.yaml (known: {sorted(ASSETS)})")
    return f"{WORK}/assets/{name}.done"


def assets_for(experiment):
    """Markers of the assets an experiment declares at this scale (transitively built by Snakemake)."""
    return [asset_marker(n) for n in experiment.spec["scales"][SCALE].get("assets", [])]


def asset_command(name):
    spec = ASSETS[name]
    args = {**spec.get("args", {}), "out": f"{WORK}/assets/{name}"}
    flags = []
    for key, value in args.items():
        value = ",".join(map(str, value)) if isinstance(value, list) else str(value).replace("{work}", WORK)
        flags.append(f"--{key.replace('_', '-')} {shlex.quote(value)}")
    return f"repro {spec['command']} {' '.join(flags)} {DATA_ARG}"


rule asset:
    input:
        lambda w: [asset_marker(dep) for dep in ASSETS[w.name].get("needs", [])],
    output:
        touch(f"{WORK}/assets/{{name}}.done"),
    wildcard_constraints:
        name="|".join(ASSETS) or "no-asset",
    log:
        f"logs/{SCALE}/assets/{{name}}.log",
    params:
        command=lambda w: asset_command(w.name),
    resources:
        gpu=lambda w: GPUS if ASSETS[w.name].get("gpu", True) else 0,
    shell:
        "{params.command} > {log} 2>&1"
