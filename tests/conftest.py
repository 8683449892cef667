"""Shared fixtures: one torch thread, and a throwaway project tree (registry + notebooks) for the workflow and
report tests."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

#: this checkout, and its config folder: the package never guesses them, so the tests name them
REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "config"

# The README's test command names the data folder relative to the checkout ("../shared/data"), and many tests
# change directory: pin it to the folder it named when pytest started.
if os.environ.get("REPRO_DATA"):
    os.environ["REPRO_DATA"] = str(Path(os.environ["REPRO_DATA"]).resolve())


def pytest_collection_modifyitems(items):
    """The slow tests (the smoke workflow) run last, after every fast test has had its say; the `gpu` tests
    (CUDA streams, graphs, the GPU paths' numbers) are skipped where there is no CUDA GPU."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)
    if not torch.cuda.is_available():
        for item in items:
            if item.get_closest_marker("gpu") is not None:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


@pytest.fixture(autouse=True, scope="session")
def library_loggers_on_the_session_stream():
    """diffusers and transformers give their loggers a stream handler on first use, bound to whatever
    ``sys.stderr`` is then; were that a test's ``capsys`` stream, closed after the test, every later warning of
    theirs would print a logging traceback into other tests' output. Bind them now, to the session's stream."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.get_logger("diffusers")
    transformers_logging.get_logger("transformers")


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The tests' models are tiny: they gain nothing from threads, and OpenMP spinning on a busy 2-core runner
    costs 10x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


DEMO_NOTEBOOK = """\
# %% tags=["parameters"]
experiment = "di_demo"
scale = "smoke"
out_dir = "."
data_root = ""
work_dir = "work"
device = "auto"
config_dir = ""

# %%
from repro.provenance import Provenance, write_rows

if fail:
    raise RuntimeError("planted failure")
prov = Provenance(experiment, scale, {"sizes": sizes, "seeds": seeds, "fail": fail})
rows = [prov.row(seed=s, table="Table 9", row=n, column="accuracy", value=10.0 * n + s, unit="%")
        for n in sizes for s in seeds]
write_rows(rows, f"{out_dir}/results.csv")
holds = rows[-1]["value"] > rows[0]["value"]
write_rows([prov.row(claim="grows", holds=holds, evidence=f"{rows[0]['value']} -> {rows[-1]['value']}")],
           f"{out_dir}/claims.csv")
"""


def demo_spec(**scales) -> dict:
    return {
        "id": "di_demo",
        "paper": "diffusion_inversion",
        "artifact": "Table 9",
        "title": "demo artifact",
        "notebook": "di_demo",
        "protocol": "A demo: accuracy grows with the data.",
        "claims": [{"id": "grows", "text": "accuracy grows with data", "check": "largest > smallest"}],
        "scales": scales
        or {
            "smoke": {"params": {"sizes": [1, 2], "seeds": [0], "fail": False}},
            "mini": {"params": {"sizes": [1, 2, 4], "seeds": [0, 1, 2], "fail": False}},
            "paper": {"skip": "needs Stable Diffusion weights"},
        },
        "paper_numbers": [
            {
                "table": "Table 9",
                "row": 2,
                "column": "accuracy",
                "value": 25.0,
                "std": 0.5,
                "unit": "%",
                "where": "demo line 1",
            }
        ],
    }


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    """``tmp_path`` laid out like the repository: config/experiments/di_demo.yaml beside the checkout's
    config.yaml, schemas and scale files, and notebooks/di_demo.py."""
    (tmp_path / "config" / "experiments").mkdir(parents=True)
    for folder in ("schema", "scales"):
        shutil.copytree(CONFIG_DIR / folder, tmp_path / "config" / folder)
    shutil.copy(CONFIG_DIR / "config.yaml", tmp_path / "config")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "config" / "experiments" / "di_demo.yaml").write_text(yaml.safe_dump(demo_spec()))
    (tmp_path / "notebooks" / "di_demo.py").write_text(textwrap.dedent(DEMO_NOTEBOOK))
    return tmp_path


@pytest.fixture
def demo_run(demo_project, tmp_path):
    """The demo artifact run at mini scale (its one claim holds), with a second claim it does not test."""
    from repro.workflow.notebook import run_notebook
    from repro.workflow.registry import load_registry

    registry = demo_project / "config" / "experiments" / "di_demo.yaml"
    registry.write_text(
        registry.read_text().replace("claims:\n", "claims:\n- {id: shrinks, text: it shrinks, check: x}\n")
    )
    demo = load_registry(demo_project / "config")["di_demo"]
    out = tmp_path / "results" / "mini" / "di_demo"
    run_notebook(demo, "mini", out, out / "di_demo.ipynb")
    return demo, out
