# Helpers shared by the rule files: the command prefix and what each scale's jobs ask of the machine.
import shlex

DATA_ROOT = CONFIG["data_root"]
DATA_ARG = f"--data-root {shlex.quote(DATA_ROOT)}" if DATA_ROOT else ""
# `{data}` in asset args (third-party weights in the data folder): data_root, else $REPRO_DATA
DATA_DIR = DATA_ROOT or os.environ.get("REPRO_DATA", "")
DATA_DIR = os.path.abspath(DATA_DIR) if DATA_DIR else ""
# Jobs that use the generator or train networks ask for a GPU at mini and paper scale; smoke runs on CPU.
GPUS = 0 if SCALE == "smoke" else 1


def expand_work(value):
    """`{work}` in the scale file is this scale's work folder, work/<scale>."""
    return str(value).replace("{work}", WORK)


# Where the short name `mini` points at this scale (smoke: a generator its own DAG pretrains in CPU steps).
MINI_GENERATOR = expand_work(SCALE_SPEC["mini_generator"]) if "mini_generator" in SCALE_SPEC else ""
ENV = f"REPRO_MINI_GENERATOR={shlex.quote(os.path.abspath(MINI_GENERATOR))} " if MINI_GENERATOR else ""
