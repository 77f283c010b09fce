"""Preemption: on SIGTERM or SIGINT a run saves a checkpoint at the next step boundary and exits with the command
that resumes it.

    preemption = Preemption()
    trainer.add_callback(preemption)
    with preemption:  # the signal handlers are ours inside the block
        trainer.train()
        if preemption.step is not None:
            raise preemption.exit(output_dir, trainer.is_world_process_zero())

The handler only notes the signal. At the end of every optimizer step `on_step_end` takes the maximum of the
noted signal over all processes (one all-reduce of a one-element tensor), so every rank stops after the same step
even when only one of them was signalled, and none waits forever in a collective; it then sets the Trainer's own
`control.should_save` and `control.should_training_stop`, so the stock Trainer writes `checkpoint-N` and leaves its
loop. A signal noticed at the last step lets the run finish. `exit` prints the resume command (the launch command
line, with `--resume_from_checkpoint last`) and returns `Preempted`, a `SystemExit` with status 128 + the signal
number: 143 for SIGTERM, 130 for SIGINT. A second Ctrl-C (SIGINT after SIGINT) stops at once, without a checkpoint.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

import torch
import torch.distributed as dist
from transformers import TrainerCallback

from .checkpoints import without_resume

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(SystemExit):
    """The run stopped on a signal after saving a checkpoint; `code` is the exit status, 128 + the signal number."""


def exit_status(signum: int) -> int:
    return 128 + int(signum)


class Preemption(TrainerCallback):
    """Turn SIGTERM / SIGINT into "save a checkpoint after this step, then stop", agreed by every process.

    Attributes: `received`, the signal this process got first (None: none); `signum`, the signal all processes
    stopped for; `step`, the global step whose checkpoint was saved before stopping (None: the run was not
    stopped). Add it after the other callbacks, so a signal that arrives during their `on_step_end` is acted on
    at that step."""

    def __init__(self, signals: tuple[int, ...] = SIGNALS):
        self.signals = tuple(signals)
        self.received: int | None = None
        self.signum: int | None = None
        self.step: int | None = None
        self._previous: dict[int, object] = {}

    # ---- the signal handlers, installed for the duration of a `with` block ----

    def __enter__(self) -> Preemption:
        if threading.current_thread() is not threading.main_thread():
            logger.warning("not in the main thread: SIGTERM/SIGINT keep their default behaviour (no checkpoint)")
            return self
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if isinstance(exc, Preempted):
            # The process exits now. A launcher that saw another rank exit first sends this one SIGTERM: ignore it
            # (SIG_IGN, unlike a Python handler, holds through interpreter shutdown), so every rank ends with its
            # own status.
            for signum in self._previous:
                signal.signal(signum, signal.SIG_IGN)
            self._previous.clear()
        else:
            self.restore()
        return False

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # Ctrl-C twice: stop now, no checkpoint
        if self.received is None:
            self.received = signum
        name = signal.Signals(signum).name
        # a signal handler must not take the logging lock: one unbuffered write
        os.write(2, f"mirror: {name} received; saving a checkpoint after this step, then stopping "
                    "(Ctrl-C twice stops at once, without one)\n".encode())

    # ---- the Trainer's side: agree, save, stop ----

    def on_step_end(self, args, state, control, **kwargs):
        signum = agree_max(self.received or 0, args)
        if not signum or self.step is not None:
            return control
        if state.max_steps and state.global_step >= state.max_steps:
            logger.warning(f"{signal.Signals(signum).name} received at the last step: finishing the run")
            return control
        self.signum, self.step = signum, state.global_step
        control.should_save = True
        control.should_training_stop = True
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.step is not None and self.step == state.global_step:  # this step's checkpoint is written already
            control.should_save = False
            control.should_evaluate = False
        return control

    def exit(self, output_dir: str | os.PathLike, main_process: bool = True) -> Preempted:
        """Print (on the main process) what was saved and the resume command; return the `Preempted` to raise."""
        status = exit_status(self.signum)
        if main_process:
            checkpoint = Path(output_dir) / f"checkpoint-{self.step}"
            print(
                f"{signal.Signals(self.signum).name}: saved {checkpoint} at step {self.step} and stopped "
                f"(exit status {status}); resume the run from {os.getcwd()} with:\n  {resume_command()}",
                file=sys.stderr,
                flush=True,
            )
        return Preempted(status)


def agree_max(value: int, args) -> int:
    """The maximum of `value` over all processes (itself with one process): every rank calls it at the same point."""
    if args.world_size <= 1 or not (dist.is_available() and dist.is_initialized()):
        return value
    flag = torch.tensor([value], dtype=torch.int64, device=args.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return int(flag.item())


def resume_command(command: list[str] | None = None) -> str:
    """The command line that continues this run: the launch command (default: `launch_command()`), with
    `--resume_from_checkpoint last` in place of any earlier `--resume_from_checkpoint`."""
    kept = without_resume(launch_command() if command is None else command)
    return shlex.join([*kept, "--resume_from_checkpoint", "last"])


def launch_command() -> list[str]:
    """How this process was started: the interpreter's command line, or, for a process that a launcher started
    (`accelerate launch`, `torchrun`: its command line holds this script and its arguments), the launcher's."""
    own = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    parent = _cmdline(os.getppid())
    script, args = sys.argv[0], sys.argv[1:]
    if script and script in parent and parent[len(parent) - len(args):] == args:
        return parent
    return own


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]
