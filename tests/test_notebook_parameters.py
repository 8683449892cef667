"""A notebook's parameters cell defines the run context alone; every other name the notebook reads without
binding it is a param that its runner injects from the registry, which gives it at every scale where the notebook
runs. Opened without its runner, a notebook stops where it builds its run, with one message saying how to run it."""

from __future__ import annotations

import ast
import builtins
import symtable

import jupytext
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from repro.workflow.notebook import CONTEXT
from repro.workflow.registry import SCALES, load_registry
from tests.conftest import CONFIG_DIR

REGISTRY = load_registry(CONFIG_DIR)
WRITTEN = [e for e in REGISTRY.values() if e.notebook.exists()]


def code_cells(experiment) -> tuple[str, list[str]]:
    """(the parameters cell, the code cells after it) of the experiment's notebook."""
    cells = jupytext.read(experiment.notebook).cells
    (index,) = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    return cells[index].source, [c.source for c in cells[index + 1 :] if c.cell_type == "code"]


def assigned(source: str) -> set[str]:
    return {
        t.id
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


def unbound(source: str) -> set[str]:
    """The names ``source`` reads, at module level or as globals of its functions, and never binds there (Python's
    builtins aside): what must come from outside, here the injected parameters."""
    module = symtable.symtable(source, "notebook", "exec")
    bound = {s.get_name() for s in module.get_symbols() if s.is_assigned() or s.is_imported()}
    read: set[str] = set()
    scopes = [module]
    while scopes:
        scope = scopes.pop()
        read |= {s.get_name() for s in scope.get_symbols() if s.is_referenced() and (scope is module or s.is_global())}
        scopes += scope.get_children()
    return read - bound - set(dir(builtins))


@pytest.mark.parametrize("experiment", [e.id for e in WRITTEN])
def test_the_parameters_cell_holds_the_run_context_alone(experiment):
    parameters, _ = code_cells(REGISTRY[experiment])
    assert assigned(parameters) == set(CONTEXT), (
        f"notebooks/{experiment}.py: its parameters cell defines "
        f"{sorted(assigned(parameters))}; it holds the run context {list(CONTEXT)}, the registry gives the rest"
    )


@pytest.mark.parametrize("experiment,scale", [(e.id, s) for e in WRITTEN for s in SCALES if not e.skip_reason(s)])
def test_every_name_a_notebook_reads_is_given_by_the_registry(experiment, scale):
    parameters, code = code_cells(REGISTRY[experiment])
    missing = unbound("\n".join([parameters, *code])) - set(REGISTRY[experiment].params(scale))
    assert not missing, (
        f"notebooks/{experiment}.py reads {sorted(missing)}, which config/experiments/"
        f"{experiment}.yaml does not give at {scale} (a typo, or a param to add to the registry)"
    )


@pytest.mark.parametrize("experiment", [e.id for e in WRITTEN])
def test_no_param_is_read_before_the_run_is_built(experiment):
    """The run checks that the parameters were injected: code before it would stop at a NameError instead."""
    parameters, code = code_cells(REGISTRY[experiment])
    statements = ast.parse("\n".join(code)).body
    first = next(i for i, node in enumerate(statements) if "from_globals" in ast.unparse(node))
    before = "\n".join(ast.unparse(node) for node in statements[: first + 1])
    assert unbound(parameters + "\n" + before) == set(), (
        f"notebooks/{experiment}.py reads params before `ExperimentRun.from_globals(globals())`"
    )


def test_a_notebook_opened_without_its_runner_says_how_to_run_it(tmp_path):
    notebook = jupytext.read(REGISTRY["di_fig6_real_scaling"].notebook)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with pytest.raises(CellExecutionError) as err:
        NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    assert "ReproError" in str(err.value) and "NameError" not in str(err.value)
    assert "was not given its parameters" in str(err.value)
    assert "repro notebook di_fig6_real_scaling --scale smoke" in str(err.value)
