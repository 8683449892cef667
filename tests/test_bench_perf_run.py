"""bench/perf_run.sh, the orchestration a CPU can check with stand-in benches: each bench runs once, a bench that
does not fit in the call's minutes waits for the next call, one that fails runs again, and every output comes back
packed in one file."""

from __future__ import annotations

import os
import runpy
import subprocess
import tarfile

from tests.conftest import REPO

#: a stand-in bench: writes NAME.csv into its --out folder, counts its runs, exits with the given status
FAKE = """
import pathlib, sys
name, status = sys.argv[1], int(sys.argv[2])
out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1])
(out / f"{name}.csv").write_text("figure\\n1\\n")
with open(out.parent / "runs.txt", "a") as runs:
    runs.write(name + ("+tiny" if "--tiny" in sys.argv else "") + "\\n")
sys.exit(status)
"""


def perf_run(tmp_path, benches: str, minutes: str = "5", **env):
    script = tmp_path / "fake_bench.py"
    script.write_text(FAKE)
    environment = {
        **os.environ,
        "PERF_STATE": str(tmp_path / "state"),
        "OUT": str(tmp_path / "out"),
        "PERF_BENCHES": benches.format(fake=script),
        **env,
    }
    return subprocess.run(
        ["bash", str(REPO / "bench" / "perf_run.sh"), minutes],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def runs(tmp_path) -> list[str]:
    return (tmp_path / "state" / "runs.txt").read_text().split()


def test_each_bench_runs_once_in_the_calls_that_have_time_for_it(tmp_path):
    benches = "quick 1 {fake} quick 0\nbroken 1 {fake} broken 1\nlong 30 {fake} long 0\n"
    first = perf_run(tmp_path, benches)
    assert first.returncode == 3, first.stderr
    assert "broken: stopped with status 1" in first.stdout and "long: left for the next call" in first.stdout
    assert runs(tmp_path) == ["quick", "broken"]  # the 30-minute bench did not start in a 5-minute call
    with tarfile.open(tmp_path / "out" / "perf-run.tar.gz") as packed:
        names = set(packed.getnames())
    assert {"./quick/quick.csv", "./quick/quick.log", "./quick/done", "./broken/broken.csv"} <= names
    assert "./broken/done" not in names

    # the next call runs again only what is not done, here with time for the long one
    second = perf_run(tmp_path, benches.replace("broken 1\n", "broken 0\n"), minutes="40")
    assert second.returncode == 0, second.stdout
    assert runs(tmp_path) == ["quick", "broken", "broken", "long"]
    assert "every bench is done" in second.stdout
    assert perf_run(tmp_path, benches, minutes="40").returncode == 0  # all done: nothing runs again
    assert len(runs(tmp_path)) == 4


def test_tiny_rehearses_every_bench_with_its_cpu_case(tmp_path):
    result = perf_run(tmp_path, "one 1 {fake} one 0\n", TINY="1")
    assert result.returncode == 0, result.stdout
    assert runs(tmp_path) == ["one+tiny"]


def test_the_default_list_runs_every_script_whose_csv_the_performance_table_reads():
    text = (REPO / "bench" / "perf_run.sh").read_text()
    listed = [line.split() for line in text.split('BENCHES="\n')[1].split('"\n')[0].splitlines()]
    scripts = {script for _name, _minutes, script, *_args in listed}
    assert all((REPO / script).is_file() for script in scripts)
    table = runpy.run_path(str(REPO / "bench" / "perf_table.py"))
    # inversion_speed_mini.csv and inversion_speed.csv both come from bench/inversion_speed.py (by --generator)
    wanted = {"bench/" + figure.csv.removesuffix(".csv").removesuffix("_mini") + ".py" for figure in table["FIGURES"]}
    assert wanted <= scripts
    generators = [args for _name, _minutes, script, *args in listed if script == "bench/inversion_speed.py"]
    assert sorted("--generator" in args for args in generators) == [False, True]  # SD-shaped and mini
