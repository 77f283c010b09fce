"""The sentence recipe, sent a signal by the test at a known step (used by tests/signalkit.py).

Usage: python tests/signal_run.py WAIT_AT_STEP MARKER_DIR LOG_JSON [recipe flags...]
At the end of step WAIT_AT_STEP every process writes MARKER_DIR/rank<r>.pid (its process id) and waits until the
test, having sent its signal, writes MARKER_DIR/sent: so the signal is noticed at that step, and the run is
reproducible. 0 never waits (nor does a run resumed past that step). A run that ends writes the trainer's log
history to LOG_JSON (from rank 0).
"""

import json
import os
import sys
import time
from pathlib import Path

from transformers import TrainerCallback

from mirror.errors import run_cli
from mirror.recipe import parse_args, train

wait_at, markers, log_path, argv = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4:]


class WaitForSignal(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step != wait_at:
            return
        markers.mkdir(parents=True, exist_ok=True)
        tmp = markers / f".rank{args.process_index}.pid"
        tmp.write_text(str(os.getpid()))
        os.replace(tmp, markers / f"rank{args.process_index}.pid")
        deadline = time.monotonic() + 120
        while not (markers / "sent").exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"step {wait_at}: no signal came within 120 s")
            time.sleep(0.05)


def main(argv):
    result = train(*parse_args(argv, "sentence"), callbacks=[WaitForSignal()])
    if int(os.environ.get("RANK", "0")) == 0:
        with open(log_path, "w") as f:
            json.dump(result["log_history"], f)


run_cli(main, argv)
