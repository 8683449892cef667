# Helpers shared by the rule files: the command prefix and what each scale's jobs ask of the machine.
import shlex

DATA_ROOT = CONFIG["data_root"]
DATA_ARG = f"--data-root {shlex.quote(DATA_ROOT)}" if DATA_ROOT else ""
# Jobs that use the generator or train networks ask for a GPU at mini and paper scale; smoke runs on CPU.
GPUS = 0 if SCALE == "smoke" else 1
