"""What every experiment resolves to at every scale (params, the assets it reads, its stand-in or skip reason)
is pinned by ``tests/registry_resolved.json``: reorganising the registry's files (bases, renames, moves) must
not change a single value. A change made on purpose rewrites the fixture with
``python -m tests.test_registry_resolved`` and shows in its diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.workflow.registry import SCALES, load_registry
from tests.conftest import CONFIG_DIR

FIXTURE = Path(__file__).with_name("registry_resolved.json")


def resolved(config_dir: Path) -> dict:
    """experiment id -> scale -> what the notebook of that scale is given, as the registry resolves it."""
    registry = load_registry(config_dir)
    table: dict = {}
    for experiment in registry.values():
        for scale in SCALES:
            entry = {"skip": experiment.skip_reason(scale), "stand_in": experiment.stand_in(scale)}
            if not entry["skip"]:
                entry.update(params=experiment.params(scale), assets=experiment.assets(scale))
            table.setdefault(experiment.id, {})[scale] = entry
    return table


def flat(entry: dict) -> dict[str, str]:
    """``params.<name>`` and the other keys, each as JSON text (which tells 1 from 1.0 and True from 1)."""
    items = {
        **{k: v for k, v in entry.items() if k != "params"},
        **{f"params.{k}": v for k, v in entry.get("params", {}).items()},
    }
    return {k: json.dumps(v, sort_keys=True) for k, v in items.items()}


PINNED = json.loads(FIXTURE.read_text())
NOW = resolved(CONFIG_DIR)


def test_the_same_experiments_are_pinned():
    assert sorted(NOW) == sorted(PINNED)


@pytest.mark.parametrize("experiment,scale", [(e, s) for e in sorted(PINNED) for s in SCALES])
def test_resolution_is_unchanged(experiment, scale):
    pinned, now = flat(PINNED[experiment][scale]), flat(NOW.get(experiment, {}).get(scale, {}))
    changed = [
        f"{k}: {pinned.get(k)} -> {now.get(k)}" for k in sorted(set(pinned) | set(now)) if pinned.get(k) != now.get(k)
    ]
    assert not changed, (
        f"{experiment} at {scale} resolves differently: {changed}; if on purpose, rewrite "
        f"{FIXTURE.name} with `python -m tests.test_registry_resolved`"
    )


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(resolved(CONFIG_DIR), indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}")
