"""bench/seeds_to_decide.py: it reads the evidence the claims module writes, and the seeds it names decide the
statement under the claims module's own rule while one fewer does not."""

from __future__ import annotations

import runpy

import numpy as np
import pandas as pd
import pytest

from repro.experiments import claims
from tests.conftest import REPO

bench = runpy.run_path(str(REPO / "bench" / "seeds_to_decide.py"))


def cell(mean: float, std: float, seeds: int) -> claims.Cell:
    """Per-seed values with exactly this mean and sample standard deviation."""
    z = np.arange(seeds, dtype=float)
    z = (z - z.mean()) / z.std(ddof=1)
    return claims.Cell(tuple(mean + std * z))


def test_it_reads_each_undecided_statement_of_the_claims_modules_evidence():
    decided = claims.greater(cell(70, 0.5, 3), cell(60, 0.5, 3), "A - B at 1x")
    undecided = claims.greater(cell(61, 2, 3), cell(60, 2, 3), "CIFAR10: A - B at 3x")
    no_gain = claims.no_gain(cell(60.5, 2, 3), cell(60, 2, 3), "A - C")
    for judgement in (claims.all_of([decided, undecided, no_gain]), claims.any_of([undecided, no_gain])):
        _, evidence = claims.decide(judgement)
        found = bench["undecided_statements"](evidence)
        assert [s["statement"] for s in found] == ["CIFAR10: A - B at 3x", "A - C"]
        level = 95 if judgement.needed == 3 else 97.5  # one of two: each read at the Bonferroni level
        low, high = undecided.contrast.interval(1 - level / 100)
        assert found[0]["estimate"] == pytest.approx(1.0) and found[0]["level"] == level
        assert found[0]["low"] == pytest.approx(low, rel=1e-2) and found[0]["high"] == pytest.approx(high, rel=1e-2)
        assert (found[0]["side"], found[0]["threshold"]) == (">", 0) and (found[1]["side"], found[1]["threshold"]) == (
            "<",
            claims.MARGIN,
        )


@pytest.mark.parametrize("difference, std", [(1.0, 2.0), (2.5, 3.0), (0.8, 0.6)])
def test_the_seeds_it_names_decide_the_statement_and_one_fewer_does_not(difference, std):
    """Two cells that vary alike: at the measured mean and spread, k seeds decide under the claims module's own
    Welch interval, k - 1 do not."""

    def check(seeds: int) -> claims.Check:
        return claims.greater(cell(60 + difference, std, seeds), cell(60, std, seeds), "A - B")

    assert check(3).verdict() is None
    (statement,) = bench["undecided_statements"](check(3).evidence())
    k = bench["seeds_to_decide"](
        **{n: statement[n] for n in ("estimate", "low", "high", "threshold", "level")}, seeds=3, max_seeds=500
    )
    assert k is not None and k > 3
    assert check(k).verdict() is True and check(k - 1).verdict() is None


def test_an_effect_too_small_for_the_budget_is_named_as_such():
    (statement,) = bench["undecided_statements"](claims.greater(cell(60.01, 3, 3), cell(60, 3, 3), "A - B").evidence())
    assert (
        bench["seeds_to_decide"](
            **{n: statement[n] for n in ("estimate", "low", "high", "threshold", "level")}, seeds=3, max_seeds=50
        )
        is None
    )


def write_experiment(results, name: str, seeds: list[int], evidence: str | None) -> None:
    folder = results / name
    folder.mkdir(parents=True)
    pd.DataFrame({"value": range(len(seeds)), "seed": seeds}).to_csv(folder / "results.csv", index=False)
    holds = "" if evidence else "True"
    pd.DataFrame({"claim": ["c"], "holds": [holds], "evidence": [evidence or "decided"]}).to_csv(
        folder / "claims.csv", index=False
    )


def test_the_command_tables_every_undecided_statement_with_the_seeds_its_cells_had(tmp_path, capsys):
    results = tmp_path / "mini"
    two_seeds = claims.greater(cell(61, 2, 2), cell(60, 2, 2), "A - B").evidence()
    write_experiment(results, "di_two", [0, 1, 0, 1], two_seeds)
    write_experiment(results, "di_done", [0, 1, 2], None)
    out = tmp_path / "seeds.csv"
    assert bench["main"]([str(results), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table[["experiment", "claim", "statement", "seeds"]].values.tolist() == [["di_two", "c", "A - B", 2]]
    assert table["seeds_to_decide"].iloc[0] > 2
    assert "per claim" in capsys.readouterr().out


def test_a_results_folder_without_an_undecided_statement_is_refused(tmp_path, capsys):
    write_experiment(tmp_path / "mini", "di_done", [0, 1, 2], None)
    assert bench["main"]([str(tmp_path / "mini")]) == 2
    assert "no undecided statement" in capsys.readouterr().err
    assert bench["main"]([str(tmp_path / "smoke")]) == 2
    assert "no results folder" in capsys.readouterr().err
