"""`vaelab train --nproc N`: start N training processes on this machine, as torchrun would.

Each child runs the same `vaelab train` command with torchrun's environment variables (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so the training code cannot tell the two
launchers apart. This one stays quiet where torchrun is loud: rank 0's output goes to the
terminal; the other ranks' is shown only if one of them is what failed. If any process fails,
the others are stopped; Ctrl-C or SIGTERM stops them all, leaving the last checkpoint to --resume.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from ..errors import InputError

FAILURE_GRACE = 3.0  # seconds the other processes get to exit by themselves after one fails


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def threads_per_process(nproc: int) -> int:
    """The machine's cores shared out, unless the user set OMP_NUM_THREADS (torchrun would set 1)."""
    if "OMP_NUM_THREADS" in os.environ:
        return int(os.environ["OMP_NUM_THREADS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // nproc)


def max_processes() -> int:
    """The most processes one machine runs: 4 per core (more only wait for one another), at least 8."""
    return max(8, 4 * (os.cpu_count() or 1))


def launch(argv: list[str], nproc: int) -> int:
    """Run `python -m vaelab *argv` in nproc processes; return the first failure's exit code, else 0."""
    if not 1 <= nproc <= max_processes():
        raise InputError(f"must lie in 1..{max_processes()} on this machine ({os.cpu_count()} cores), got {nproc}",
                         "nproc")
    base = dict(os.environ, WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(free_port()), OMP_NUM_THREADS=str(threads_per_process(nproc)))
    children: list[subprocess.Popen] = []
    logs = []
    stopping = {"signal": None}

    def stop(signum, _frame):
        stopping["signal"] = signum
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for rank in range(nproc):
            env = dict(base, RANK=str(rank), LOCAL_RANK=str(rank))
            log = None if rank == 0 else tempfile.TemporaryFile(mode="w+")
            logs.append(log)
            children.append(subprocess.Popen([sys.executable, "-m", "vaelab", *argv], env=env,
                                             stdout=log, stderr=log))
        failed = _wait(children)
        if stopping["signal"] is not None:
            _wait_all(children)
            print("vaelab train: interrupted; the run folder keeps its last checkpoint (--resume continues it)",
                  file=sys.stderr)
            return 128 + stopping["signal"]
        if failed is None:
            return 0
        rank, code = failed
        if rank != 0:  # rank 0 printed its own error; another rank's is in its log
            logs[rank].seek(0)
            lines = [ln for ln in logs[rank].read().splitlines() if ln.strip()]
            print(f"[process {rank}] " + (lines[-1] if lines else f"exited with code {code}"), file=sys.stderr)
        return code if code > 0 else 1
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
        for child in children:
            child.wait()
        for s, handler in previous.items():
            signal.signal(s, handler)
        for log in logs:
            if log is not None:
                log.close()


def _wait(children: list[subprocess.Popen]) -> tuple[int, int] | None:
    """Wait until all exit cleanly (None) or one fails: then stop the others, return (rank, code)."""
    while True:
        codes = [child.poll() for child in children]
        if any(code not in (None, 0) for code in codes):
            # Bad input fails every process at once: give the others a moment to exit by themselves,
            # so the error reported is rank 0's own rather than that of whichever process was first.
            _wait_all(children, grace=FAILURE_GRACE, then=subprocess.Popen.terminate)
            _wait_all(children)
            failed = [(rank, child.returncode) for rank, child in enumerate(children) if child.returncode != 0]
            return min(failed, key=lambda f: (f[1] < 0, f[0]))  # an error exit before one we stopped
        if all(code == 0 for code in codes):
            return None
        time.sleep(0.2)


def _wait_all(children: list[subprocess.Popen], grace: float = 10.0, then=subprocess.Popen.kill) -> None:
    """Wait up to `grace` seconds for every child to exit; `then` (kill, or terminate) the rest."""
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            then(child)
            if then is subprocess.Popen.kill:
                child.wait()
