"""Peak GPU memory of a workflow job, recorded by the job's own processes.

Snakemake's ``benchmark:`` directive times a job and samples the memory of its processes, but cannot see the
GPU. So a rule names a file in ``$REPRO_GPU_PEAK_FILE``, and every ``repro`` process of the job records its own
peak there as it exits: the ``repro`` command itself (:mod:`repro.cli` registers it), and for ``repro run`` the
notebook's kernel, a separate process that papermill starts and that runs no ``repro`` command (the runner asks
it to register at start-up: :func:`kernel_arguments`; it writes when its notebook saves its results, as the kernel
manager may kill it before its exit hooks run). Only the process knows its peak, and only until it exits, which is
why each one writes for itself.

Each process appends one JSON line: its pid and, for each visible CUDA device, its name, the most memory
PyTorch's caching allocator reserved on it (``torch.cuda.max_memory_reserved``) and how often the allocator found
the device full, freed its cache and tried again (``num_alloc_retries``: jobs that share a GPU and fill its memory
slow each other down this way, each retry a synchronisation, before any of them fails); no devices where the process
never initialised CUDA (a CPU run, or ``repro run``'s runner, which leaves the GPU to its kernel). The job's
peak (:func:`read_gpu_peak`) is the largest of any process on any device: the processes of a ``repro`` job use
the GPU one at a time, so their peaks do not add up.

A process that times its phases (``repro.provenance.phase``) also appends a progress line, marked ``running``,
when a phase ends at least ``PROGRESS_SECONDS`` after its last line: a job stopped at a piece's time limit, whose
processes never reach their exit, still tells its peak so far and where its time went until then. The readers
take each process's last line.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..provenance import on_phase_end, phase_seconds

#: names the file a job's processes append their peaks to; set by the workflow's rules, unset elsewhere
GPU_PEAK_FILE_ENV = "REPRO_GPU_PEAK_FILE"
MIB = 1024 * 1024
#: least seconds between a process's progress lines (a phase may end many times a second)
PROGRESS_SECONDS = 30.0

#: the files this process registered for (a command run twice in one process records once)
_registered: set[str] = set()
#: the files this process has written its line to: it writes one, now or at exit
_written: set[str] = set()


def _process_seconds() -> float | None:
    """Seconds since this process started (None where psutil cannot tell)."""
    try:
        import psutil

        return time.time() - psutil.Process().create_time()
    except (ImportError, OSError):
        return None


def _job_file() -> str | None:
    """The job's file, made absolute in this process's environment too: a child started in another folder
    (papermill's kernel runs in the notebook's output folder) then appends to the same file."""
    path = os.environ.get(GPU_PEAK_FILE_ENV)
    if not path:
        return None
    os.environ[GPU_PEAK_FILE_ENV] = os.path.abspath(path)
    return os.environ[GPU_PEAK_FILE_ENV]


def record_gpu_peak_at_exit() -> None:
    """Append this process's GPU peak to the job's file when it exits, where the workflow named a file."""
    path = _job_file()
    if path is None or path in _registered:
        return
    _registered.add(path)
    pid = os.getpid()
    atexit.register(_append_if_same_process, Path(path), pid)
    last = [time.monotonic()]

    def progress() -> None:  # as at exit, not from a forked child, which inherits the listener
        if os.getpid() == pid and path not in _written and time.monotonic() - last[0] >= PROGRESS_SECONDS:
            last[0] = time.monotonic()
            append_gpu_peak(Path(path), running=True)

    on_phase_end(progress)


def record_gpu_peak_now() -> None:
    """Append this process's GPU peak to the job's file now instead of at exit: a notebook's kernel calls it when
    the notebook saves its results, since the kernel manager may kill a kernel whose CUDA teardown outlasts its
    wait before the exit hooks run (the H100 rehearsal's notebooks recorded no peak)."""
    path = _job_file()
    if path is not None:
        _append_once(Path(path))


def kernel_arguments() -> list[str]:
    """Options for a notebook kernel's launch that make the kernel record its peak as well (none where the
    workflow named no file). Given at launch, they leave no trace in the executed notebook."""
    if _job_file() is None:
        return []
    register = f"__import__('{__name__}', fromlist=['_']).record_gpu_peak_at_exit()"
    return [f"--IPKernelApp.exec_lines={[register]!r}"]


def gpu_peaks() -> list[dict]:
    """Each visible CUDA device's name, the most memory this process reserved on it, in bytes, and its caching
    allocator's retries there; empty where the process never initialised CUDA."""
    torch = sys.modules.get("torch")  # never imported: CUDA is not initialised, and importing it at exit costs seconds
    if torch is None or not torch.cuda.is_initialized():
        return []
    return [
        {
            "name": torch.cuda.get_device_name(i),
            "peak_bytes": int(torch.cuda.max_memory_reserved(i)),
            "alloc_retries": int(torch.cuda.memory_stats(i).get("num_alloc_retries", 0)),
        }
        for i in range(torch.cuda.device_count())
    ]


def append_gpu_peak(path: Path, running: bool = False) -> None:
    """Append this process's line (``running``: a progress line, not its last); appends of one short line do not
    interleave between processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"pid": os.getpid(), "devices": gpu_peaks()}
    if running:
        line["running"] = True
    phases = phase_seconds()  # what the process timed of its work (repro.provenance.phase)
    if phases:
        line["phases"] = {name: round(seconds, 1) for name, seconds in phases.items()}
        process = _process_seconds()
        line["process_s"] = None if process is None else round(process, 1)
    with open(path, "a") as file:
        file.write(json.dumps(line) + "\n")


def _append_if_same_process(path: Path, pid: int) -> None:
    # a forked child that exits through Python inherits the handler, not the parent's CUDA memory: skip it
    if os.getpid() == pid:
        _append_once(path)


def _append_once(path: Path) -> None:
    if str(path) not in _written:
        _written.add(str(path))
        append_gpu_peak(path)


@dataclass(frozen=True)
class GpuPeak:
    """A job's peak GPU memory: ``mib`` is None where its processes recorded nothing (the job ran without this
    record, or was killed), 0 where none used a GPU; ``devices`` names the devices that held the memory;
    ``alloc_retries`` is the allocator's retries over the job's processes and devices (None where none recorded
    them: a record older than the count)."""

    mib: float | None
    devices: str
    alloc_retries: int | None = None


def _records(path: Path) -> list[dict]:
    """Each of the job's processes' last line, in the order the processes first wrote (none where the file is
    missing); a last line still marked ``running`` is a process that was stopped before its end."""
    if not path.exists():
        return []
    last: dict[int, dict] = {}
    for text in path.read_text().splitlines():
        if text.strip():
            line = json.loads(text)
            last[line["pid"]] = line
    return list(last.values())


def read_gpu_peak(path: Path) -> GpuPeak:
    """The largest peak any of the job's processes recorded on any device, and the devices it used."""
    records = _records(path)
    if not records:
        return GpuPeak(None, "")
    devices = [d for record in records for d in record["devices"]]
    used = [d for d in devices if d["peak_bytes"] > 0]
    peak = max((d["peak_bytes"] for d in used), default=0)
    counted = [d["alloc_retries"] for d in used if "alloc_retries" in d]
    retries = sum(counted) if counted or not used else None
    return GpuPeak(peak / MIB, "; ".join(sorted({d["name"] for d in used})), retries)


#: how a job's phases say that one of its processes was stopped before its end (``repro jobs``' phases column)
UNTIL_STOPPED = " until stopped"


def read_phases(path: Path) -> str:
    """Where the job's processes that timed their phases spent their time, one process after another:
    ``process 379 s: other 21 s, data 12 s, generator 4 s, invert 342 s`` (other: the seconds outside the phases,
    mostly the imports and start-up before the first); empty where none did."""
    described = []
    for record in _records(path):
        phases = record.get("phases")
        if not phases:
            continue
        parts = [f"{name} {seconds:.0f} s" for name, seconds in phases.items()]
        total = record.get("process_s")
        if total is not None:
            parts.insert(0, f"other {max(0.0, total - sum(phases.values())):.0f} s")
        stopped = UNTIL_STOPPED if record.get("running") else ""
        described.append(("" if total is None else f"process {total:.0f} s{stopped}: ") + ", ".join(parts))
    return "; ".join(described)


def stopped_seconds(path: Path) -> float | None:
    """How long the longest process of a job that was stopped before its end had run at its last progress line
    (None where no process was stopped, or none timed its phases)."""
    seconds = [r["process_s"] for r in _records(path) if r.get("running") and r.get("process_s") is not None]
    return max(seconds, default=None)
