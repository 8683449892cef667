"""bench/mini_dag.sh, the parts a CPU can check: `carry` shares files out over folders one device call can carry
and `stage` puts them together again, folder by folder; `pack` brings back what the repository keeps in parts
the device returns (at most 8 files of 16 MiB), and refuses more than 64 MiB."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "bench" / "mini_dag.sh"
MIB = 1024 * 1024


def script(*args: str, cwd, **env: str) -> subprocess.CompletedProcess:
    """The script in ``cwd`` with ``env``; never the session's data folder, which `stage` would write into."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("REPRO_DATA", "OUT", "DAG_STATE")}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=cwd, env={**inherited, **env}, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def finished(tmp_path):
    """A state folder as a finished mini run leaves it: results with a large figure, the jobs table, the report."""
    state = tmp_path / "state"
    (state / "results" / "mini" / "di_demo").mkdir(parents=True)
    (state / "results" / "mini" / "di_demo" / "figure.png").write_bytes(os.urandom(20 * MIB))
    (state / "results" / "mini" / "di_demo" / ".snakemake_timestamp").touch()
    (state / "results" / "mini" / "jobs.csv").write_text("job,kind\n")
    (state / "reports" / "mini").mkdir(parents=True)
    (state / "reports" / "mini" / "index.md").write_text("# index\n")
    return state


def test_pack_returns_what_the_repository_keeps_in_parts_the_device_brings_back(finished, tmp_path):
    out = tmp_path / "out"
    run = script("pack", cwd=tmp_path, DAG_STATE=str(finished), OUT=str(out))
    assert run.returncode == 0, run.stderr
    parts = sorted(out.iterdir())
    assert [p.name for p in parts] == ["mini-dag.tar.gz.00", "mini-dag.tar.gz.01"]
    assert all(p.stat().st_size <= 16 * MIB for p in parts) and len(parts) <= 8
    assert "cat mini-dag.tar.gz.* | tar -xz" in run.stdout
    whole = tmp_path / "whole.tar.gz"
    whole.write_bytes(b"".join(p.read_bytes() for p in parts))
    with tarfile.open(whole) as archive:
        names = set(archive.getnames())
        archive.extractall(tmp_path / "repo", filter="data")
    assert {"results/mini/jobs.csv", "reports/mini/index.md", "results/mini/di_demo/figure.png"} <= names
    assert not any(name.endswith(".snakemake_timestamp") for name in names)
    figure = "results/mini/di_demo/figure.png"
    assert (tmp_path / "repo" / figure).read_bytes() == (finished / figure).read_bytes()


def test_pack_brings_back_an_unfinished_runs_benchmarks_and_logs(tmp_path):
    state = tmp_path / "state"
    (state / "benchmarks" / "mini" / "assets").mkdir(parents=True)
    (state / "benchmarks" / "mini" / "assets" / "tokens_cifar10.tsv").write_text("s\n59.0\n")
    (state / "logs" / "mini").mkdir(parents=True)
    (state / "logs" / "mini" / "di_demo.log").write_text("killed\n")
    out = tmp_path / "out"
    run = script("pack", cwd=tmp_path, DAG_STATE=str(state), OUT=str(out))
    assert run.returncode == 0, run.stderr
    assert "no jobs table yet" in run.stderr
    with tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in sorted(out.iterdir())))) as archive:
        assert set(archive.getnames()) >= {"benchmarks/mini/assets/tokens_cifar10.tsv", "logs/mini/di_demo.log"}


def test_pack_says_when_there_is_nothing_to_pack(tmp_path):
    run = script("pack", cwd=tmp_path, DAG_STATE=str(tmp_path / "empty"), OUT=str(tmp_path / "out"))
    assert run.returncode == 2 and "nothing to pack" in run.stderr


def test_pack_refuses_more_than_the_repository_keeps(finished, tmp_path):
    with open(finished / "results" / "mini" / "di_demo" / "huge.bin", "wb") as sparse:
        sparse.truncate(65 * MIB)
    out = tmp_path / "out"
    run = script("pack", cwd=tmp_path, DAG_STATE=str(finished), OUT=str(out))
    assert run.returncode == 2 and "over its 64" in run.stderr and "huge.bin" in run.stderr
    assert not out.exists()


@pytest.fixture
def checkout(tmp_path):
    """A checkout with a wheel-less .whl/ and a data folder of archives, one of them larger than a call's share."""
    repo, data = tmp_path / "repo", tmp_path / "data"
    (data / "models").mkdir(parents=True)
    (data / "big.zip").write_bytes(os.urandom(3 * MIB + 5))
    (data / "small.zip").write_bytes(os.urandom(1000))
    (data / "models" / "teacher.th").write_bytes(os.urandom(100))
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / ".gitignore").write_text("/.carry*/\n")
    return repo, data


def test_carry_and_stage_move_the_data_folder_one_call_at_a_time(checkout, tmp_path):
    repo, data = checkout
    run = script("carry", "1", cwd=repo, REPRO_DATA=str(data))
    assert run.returncode == 0, run.stderr
    folders = sorted(repo.glob(".carry*"))
    assert len(folders) == 4 and 'carry [".carry1"]: bench/mini_dag.sh stage' in run.stdout
    for folder in folders:  # a part is at most the share; the manifest rides along
        assert sum(f.stat().st_size for f in folder.rglob("*.part*")) <= MIB
    state = tmp_path / "state"
    for i, folder in enumerate(reversed(folders)):  # one device call each, in any order
        call = tmp_path / f"call{i}"
        shutil.copytree(folder, call / folder.name)
        staged = script("stage", cwd=call, DAG_STATE=str(state), REPRO_DATA=str(state / "data"))
        assert staged.returncode == 0, staged.stderr
    assert "staged: every carried file is in place" in staged.stdout
    for name in ("big.zip", "small.zip", "models/teacher.th"):
        assert (state / "data" / name).read_bytes() == (data / name).read_bytes()


def tiny_wheel(folder, name: str) -> None:
    """A pure-Python wheel of one empty module, enough for pip to install offline."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": "",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{dist}/RECORD"])
    with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)


def test_carry_puts_the_wheels_first_and_stage_installs_them_before_the_data_is_in(checkout, tmp_path):
    """The wheels ride in the first folder, though the data's parts are larger: one call brings what the GPU
    tests need (bench/mini_dag.sh gpu-tests) while the data is still to come."""
    repo, data = checkout
    (repo / ".whl").mkdir()
    for name in ("tinya", "tinyb"):
        tiny_wheel(repo / ".whl", name)
    assert script("carry", "1", cwd=repo, REPRO_DATA=str(data)).returncode == 0
    first = repo / ".carry1"
    assert sorted(p.name for p in (first / "whl").iterdir()) == [
        "tinya-1.0-py3-none-any.whl.part00",
        "tinyb-1.0-py3-none-any.whl.part00",
    ]
    state = tmp_path / "state"
    call = tmp_path / "call"
    shutil.copytree(first, call / first.name)
    staged = script("stage", cwd=call, DAG_STATE=str(state), REPRO_DATA=str(state / "data"))
    assert staged.returncode == 0, staged.stderr
    assert "installed 2 wheels" in staged.stdout and "still to carry: data/big.zip" in staged.stdout
    assert (state / "site" / "tinya" / "__init__.py").exists() and (state / "site" / ".installed").exists()


def test_gpu_tests_wait_for_the_wheels_and_refuse_a_machine_without_cuda(checkout, tmp_path):
    repo, data = checkout
    (repo / ".whl").mkdir()
    tiny_wheel(repo / ".whl", "tinya")
    script("carry", "1", cwd=repo, REPRO_DATA=str(data))
    call = tmp_path / "call"
    shutil.copytree(repo / ".carry2", call / ".carry2")  # data only: the wheel is in .carry1
    state = str(tmp_path / "state")
    script("stage", cwd=call, DAG_STATE=state, REPRO_DATA=str(tmp_path / "staged"))
    early = script("gpu-tests", cwd=call, DAG_STATE=state)
    assert early.returncode == 2 and "the wheels are not all in yet: stage the folders" in early.stderr
    assert "unbound variable" not in early.stderr  # where the data goes there, unless REPRO_DATA says
    bare = script("gpu-tests", cwd=REPO, DAG_STATE=str(tmp_path / "fresh"), CUDA_VISIBLE_DEVICES="")
    assert bare.returncode == 2 and "no CUDA GPU here: every gpu test would be skipped" in bare.stderr


def pytest_gpu(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`pytest -m gpu` in the repository, as gpu-tests runs it, with ``args`` and ``env`` added."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_tests_that_gpu_tests_runs_are_skipped_without_cuda():
    """`pytest -m gpu` selects the tests that need CUDA; without a GPU each is skipped, saying so."""
    run = pytest_gpu("-rs", "tests/test_classifiers_train.py", "tests/test_data_gpu.py", CUDA_VISIBLE_DEVICES="")
    assert run.returncode == 0, run.stdout
    assert "2 skipped" in run.stdout and run.stdout.count("needs a CUDA GPU") == 2, run.stdout


def test_the_gpu_tests_are_collected_where_a_reference_of_the_cpu_tests_is_missing(tmp_path):
    """The device's image lacks prdc, which only the metric tests import: `pytest -m gpu` over the whole suite,
    as gpu-tests runs it there, collects the gpu tests instead of stopping at that module."""
    (tmp_path / "sitecustomize.py").write_text("import sys\n\nsys.modules['prdc'] = None  # import prdc fails\n")
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    run = pytest_gpu("--collect-only", PYTHONPATH=path)
    assert run.returncode == 0, run.stdout
    assert "tests/test_classifiers_grid.py::" in run.stdout and "error" not in run.stdout.lower(), run.stdout


def test_stage_refuses_a_damaged_file(checkout, tmp_path):
    repo, data = checkout
    script("carry", "1", cwd=repo, REPRO_DATA=str(data))
    call = tmp_path / "call"
    shutil.copytree(repo, call, ignore=shutil.ignore_patterns(".git"))
    part = next(call.glob(".carry*/data/big.zip.part01"))
    damaged = bytearray(part.read_bytes())
    damaged[0] ^= 0xFF  # a flipped byte always differs; a written one matched random data once in 256 CI runs
    part.write_bytes(bytes(damaged))
    staged = script("stage", cwd=call, DAG_STATE=str(tmp_path / "state"), REPRO_DATA=str(tmp_path / "staged"))
    assert staged.returncode == 2 and "data/big.zip came damaged: carry its folder again" in staged.stderr
    assert not (tmp_path / "staged" / "big.zip").exists()


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)"
)
def test_the_script_is_shellcheck_clean():
    run = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


@pytest.mark.skipif(
    shutil.which("nvidia-cuda-mps-control") is not None, reason="a machine with NVIDIA's MPS: the stand-in would clash"
)
def test_mps_starts_the_daemon_once_and_says_so_where_it_cannot(tmp_path):
    """A stand-in control binary that records its calls and leaves a process named like the daemon: the first call
    starts it, a later call (a later piece) finds it and starts none; without the binary the script warns and the
    jobs share the GPU in turns."""
    state = tmp_path / "state"
    absent = script("mps", cwd=tmp_path, DAG_STATE=str(state))
    assert absent.returncode == 0 and "warning: MPS could not start" in absent.stderr
    bin_dir, calls, pids = tmp_path / "bin", tmp_path / "calls", tmp_path / "daemon.pids"
    bin_dir.mkdir()
    control = bin_dir / "nvidia-cuda-mps-control"
    control.write_text(
        "#!/bin/bash\n"
        f'echo "$@" >> {calls}\n'
        f"(exec -a nvidia-cuda-mps-control sleep 60 >/dev/null 2>&1 & echo $! >> {pids})\n"
    )
    control.chmod(0o755)
    path = f"{bin_dir}:{os.environ['PATH']}"
    try:
        first = script("mps", cwd=tmp_path, DAG_STATE=str(state), PATH=path)
        again = script("mps", cwd=tmp_path, DAG_STATE=str(state), PATH=path)
    finally:  # every stand-in daemon, also those of a script that started one again
        for pid in pids.read_text().split() if pids.exists() else []:
            os.kill(int(pid), 9)
    folders = f"CUDA_MPS_PIPE_DIRECTORY={state}/mps CUDA_MPS_LOG_DIRECTORY={state}/mps-log"
    assert first.returncode == 0 and f"MPS: daemon started ({folders})" in first.stdout, first.stderr
    assert (state / "mps").is_dir() and (state / "mps-log").is_dir()
    assert again.returncode == 0 and f"the daemon an earlier call started serves this one ({folders})" in again.stdout
    assert calls.read_text() == "-d\n"  # started once


@pytest.fixture
def snakemake_stand_in(tmp_path):
    """A checkout holding the script and a `python3` on PATH standing in for Snakemake: its run writes a result,
    prints its progress as Snakemake does and lasts 8 seconds; its dry run finds nothing to do once the run
    has finished."""
    repo, bin_dir = tmp_path / "repo", tmp_path / "bin"
    (repo / "bench").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "bench" / "mini_dag.sh")
    bin_dir.mkdir()
    python = bin_dir / "python3"
    python.write_text(
        "#!/bin/bash\n"
        "for a; do case $a in results_dir=*) results=${a#results_dir=} ;; esac; done\n"
        'case " $* " in\n'
        '  *" --unlock "*) exit 0 ;;\n'
        '  *" --dry-run "*) [ -f "$results/mini/table.csv" ] && echo "Nothing to be done." || echo "Job stats:" ;;\n'
        '  *) echo "1 of 2 steps (50%) done"; sleep 8\n'
        '     mkdir -p "$results/mini"; echo "top1" >"$results/mini/table.csv"\n'
        '     echo "2 of 2 steps (100%) done" ;;\n'
        "esac\n"
    )
    python.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DAG_STATE": str(tmp_path / "state"),
        "REPRO_DATA": str(tmp_path / "data"),
    }
    return repo, env


def test_a_started_run_outlives_its_call_and_wait_follows_it_to_the_end(snakemake_stand_in, tmp_path):
    repo, env = snakemake_stand_in
    started = script("start", cwd=repo, REPRO_GIT_COMMIT="0123456789ab", **env)
    assert started.returncode == 0, started.stderr
    assert "started: the mini DAG for at most 30 minutes at commit 0123456789ab" in started.stdout
    again = script("start", cwd=repo, REPRO_GIT_COMMIT="0123456789ab", **env)
    assert again.returncode == 2 and "still going: bench/mini_dag.sh wait" in again.stderr

    early = script("wait", "0.05", cwd=repo, OUT=str(tmp_path / "out1"), **env)
    assert early.returncode == 3 and "still running after this call's 0.05 minutes" in early.stdout, early.stderr
    assert early.stdout.startswith("1 of 2 steps (50%) done")
    assert (tmp_path / "out1" / "run-daemon.log").exists()

    done = script("wait", "1", cwd=repo, OUT=str(tmp_path / "out2"), **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("2 of 2 steps (100%) done") and "the mini DAG is complete" in done.stdout
    parts = sorted((tmp_path / "out2").glob("mini-dag.tar.gz.*"))
    with tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in parts))) as archive:
        assert archive.extractfile("results/mini/table.csv").read() == b"top1\n"
    # the run went on from a copy of the checkout, whose state folders link into the state
    tree = tmp_path / "state" / "tree"
    assert (tree / "bench" / "mini_dag.sh").exists() and (tree / "logs").is_symlink()
    assert not (repo / "logs").exists()


def test_start_needs_the_commit_where_the_copy_has_no_git_and_wait_needs_a_start(snakemake_stand_in, tmp_path):
    repo, env = snakemake_stand_in
    started = script("start", cwd=repo, **env)
    assert started.returncode == 2 and "name its commit, REPRO_GIT_COMMIT=" in started.stderr
    waited = script("wait", "1", cwd=repo, **env)
    assert waited.returncode == 2 and "no run was started on this machine: bench/mini_dag.sh start" in waited.stderr


def test_start_names_a_dirty_copy_and_says_how_to_name_its_commit(snakemake_stand_in, tmp_path):
    """A device's copy can keep the .git of the session's first commit under a later tree: its rows would name that
    commit, so `start` names it "+dirty" and says how to name the right one."""
    repo, env = snakemake_stand_in
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "bench"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], cwd=repo, check=True)
    sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True, text=True).stdout
    with open(repo / "bench" / "mini_dag.sh", "a") as tracked:
        tracked.write("# a later commit's change\n")
    started = script("start", cwd=repo, **env)
    assert started.returncode == 0, started.stderr
    assert f"at commit {sha.strip()}+dirty" in started.stdout
    assert "name that commit: REPRO_GIT_COMMIT=$(git rev-parse --short=12 HEAD)" in started.stderr
    done = script("wait", "1", cwd=repo, OUT=str(tmp_path / "out"), **env)
    assert done.returncode == 0, done.stdout + done.stderr
