"""Every notebook's parameters cell and its registry agree: a name the notebook defines that a scale does not
give would silently keep the notebook's smoke default at that scale."""

from __future__ import annotations

import ast

import jupytext
import pytest

from repro.experiments.run import CONTEXT
from repro.workflow.registry import SCALES, load_registry
from tests.conftest import CONFIG_DIR

REGISTRY = load_registry(CONFIG_DIR)


def parameter_names(experiment) -> set[str]:
    notebook = jupytext.read(experiment.notebook)
    (cell,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    return {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Name)}


@pytest.mark.parametrize("experiment,scale", [(e.id, s) for e in REGISTRY.values() for s in SCALES
                                               if e.notebook.exists() and not e.skip_reason(s)])
def test_every_notebook_parameter_is_given_at_every_scale(experiment, scale):
    spec = REGISTRY[experiment]
    defined = parameter_names(spec) - set(CONTEXT)
    given = set(spec.params(scale))
    assert defined - given == set(), f"config/experiments/{experiment}.yaml at {scale} lacks {defined - given}"
    assert given - defined == set(), f"notebooks/{spec.notebook.name} does not define {given - defined}"
