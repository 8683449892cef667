# Shared intermediate assets (prepared data, embeddings, synthetic datasets, generators, teachers): each is
# one `repro` command declared in config/scales/<scale>.yaml under `assets`, computed once and reused by every
# experiment that lists it. The command writes into work/<scale>/assets/<name>/ (`{out}` in its args) and
# resumes from what is there; only the `.done` marker is the declared output, so a killed job keeps its
# partial work.
ASSETS = SCALE_SPEC.get("assets", {})


def asset_marker(name):
    if name not in ASSETS:
        raise ValueError(f"asset {name!r} is not declared in config/scales/{SCALE}.yaml (known: {sorted(ASSETS)})")
    return f"{WORK}/assets/{name}.done"


def assets_for(experiment):
    """Markers of the assets an experiment declares at this scale (transitively built by Snakemake). Where the
    scale pretrains its own `mini` generator (the `generator` asset), every experiment needs it."""
    names = list(experiment.spec["scales"][SCALE].get("assets", []))
    if MINI_GENERATOR and "generator" in ASSETS and "generator" not in names:
        names.append("generator")
    return [asset_marker(n) for n in names]


def asset_command(name):
    spec = ASSETS[name]
    out = f"{WORK}/assets/{name}"
    flags = []
    for key, value in spec.get("args", {}).items():
        flag = f"--{key.replace('_', '-')}"
        if isinstance(value, bool):  # a switch: present when true
            flags += [flag] if value else []
            continue
        value = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        if "{data}" in value and not DATA_DIR:
            raise ValueError(f"asset {name!r} reads {value!r} from the data folder, but none is set: set "
                             "$REPRO_DATA or --config data_root=...")
        value = expand_work(value).replace("{out}", out).replace("{data}", DATA_DIR)
        flags.append(f"{flag} {shlex.quote(value)}")
    data = DATA_ARG if spec.get("data", True) else ""
    return f"{ENV}repro {spec['command']} {' '.join(flags)} {data}".strip()


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
