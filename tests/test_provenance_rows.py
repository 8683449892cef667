"""Result rows on disk: every row a run finished is in its CSV, with provenance, before the run goes on."""

from __future__ import annotations

import pandas as pd
import pytest

from repro.provenance import Provenance, RowsFile


def test_each_added_row_is_written_before_the_next_case_runs(tmp_path):
    prov = Provenance("bench_demo", "bench", {"batch": 8})
    results = RowsFile(tmp_path / "out" / "demo.csv")
    results.add(prov.row(case="first", value=1.0))
    written = pd.read_csv(tmp_path / "out" / "demo.csv")
    assert list(written["case"]) == ["first"] and written["experiment"].iloc[0] == "bench_demo"
    results.add(prov.row(case="second", value=2.0))
    assert list(pd.read_csv(tmp_path / "out" / "demo.csv")["case"]) == ["first", "second"]
    assert not list((tmp_path / "out").glob("*.tmp"))  # written atomically


def test_a_row_without_provenance_is_refused(tmp_path):
    with pytest.raises(ValueError, match="lack provenance columns"):
        RowsFile(tmp_path / "demo.csv").add({"case": "first"})
