"""Result rows on disk: every row a run finished is in its CSV, with provenance, before the run goes on."""

from __future__ import annotations

import pandas as pd
import pytest

from repro import provenance
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


def test_a_phase_inside_another_counts_its_own_seconds_and_the_outer_one_the_rest(monkeypatch):
    """Library functions declare their phase wherever they are called: a notebook's or a command's phase around
    them must not count their seconds twice, or a job's phases would add up to more than its time."""
    now = [100.0]
    monkeypatch.setattr(provenance.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(provenance, "_phases", {})
    with provenance.phase("outer"):
        now[0] += 2.0
        with provenance.phase("inner"):
            now[0] += 5.0
            with provenance.phase("inner"):  # the same name nested: 1 s, once
                now[0] += 1.0
        now[0] += 3.0
    with provenance.phase("inner"):
        now[0] += 0.5
    assert provenance.phase_seconds() == {"inner": 6.5, "outer": 5.0}
    assert sum(provenance.phase_seconds().values()) == now[0] - 100.0


def test_a_phase_in_another_thread_does_not_nest_in_this_ones(monkeypatch):
    """Threads run side by side: a phase of a worker thread is not part of the main thread's open phase."""
    import threading

    now = [0.0]
    monkeypatch.setattr(provenance.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(provenance, "_phases", {})

    def work():
        with provenance.phase("worker"):
            now[0] += 2.0

    with provenance.phase("main"):
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
        now[0] += 1.0
    assert provenance.phase_seconds() == {"worker": 2.0, "main": 3.0}
