"""Start a real training run (tests/signal_run.py), signal some of its processes at a given step, collect the
result: shared by tests/test_recipe.py (one process) and tests/test_distributed.py (two, under accelerate launch)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "signal_run.py"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONHASHSEED": "random"}


def run(wait_at, markers, log, flags, launcher=None, timeout=600) -> subprocess.CompletedProcess:
    """Run to the end (or to wherever the run stops by itself)."""
    cmd = [*(launcher or [sys.executable]), str(SCRIPT), str(wait_at), str(markers), str(log), *map(str, flags)]
    return subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=timeout)


def run_and_signal(wait_at, markers, log, flags, signum, ranks=(0,), launcher=None, timeout=300):
    """Start a run, send `signum` to the processes of `ranks` once they reach the end of step `wait_at`, and
    return (the CompletedProcess-like result, seconds from the signal to the exit)."""
    markers = Path(markers)
    cmd = [*(launcher or [sys.executable]), str(SCRIPT), str(wait_at), str(markers), str(log), *map(str, flags)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout
        pids = [markers / f"rank{r}.pid" for r in ranks]
        while not all(p.exists() for p in pids):
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate(timeout=60)
                raise AssertionError(f"the run never reached step {wait_at} (exit {proc.returncode}): {err[-3000:]}")
            time.sleep(0.1)
        for p in pids:
            os.kill(int(p.read_text()), signum)
        sent = time.monotonic()
        (markers / "sent").write_text("")
        try:
            out, err = proc.communicate(timeout=120)  # returns once every process has closed its output
            status, proc = proc.returncode, None  # every process must exit, none left waiting in a collective
        except subprocess.TimeoutExpired:
            raise AssertionError("the run did not exit within 120 s of the signal (a rank waiting in a collective?)") from None
        return subprocess.CompletedProcess(cmd, status, out, err), time.monotonic() - sent
    finally:  # nothing outlives a failed test: the launcher's group and its workers (each in a session of its own)
        if proc is not None:
            workers = [int(p.read_text()) for p in markers.glob("rank*.pid")]
            for pid, kill in [(proc.pid, os.killpg), *((w, os.kill) for w in workers)]:
                try:
                    kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.communicate()


def printed_resume_command(stderr: str) -> list[str]:
    """The command the run printed after 'resume the run from <cwd> with:', split as a shell would."""
    lines = stderr.splitlines()
    at = [i for i, line in enumerate(lines) if "resume the run from" in line]
    assert len(at) == 1, stderr[-3000:]  # printed once, by the main process only
    return shlex.split(lines[at[0] + 1])
