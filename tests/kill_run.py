"""The sentence recipe with a hard kill (os._exit, as SIGKILL: no cleanup) at the end of a given step.

Used by tests/test_recipe.py. Usage: python tests/kill_run.py KILL_AT_STEP LOG_JSON [recipe flags...]
KILL_AT_STEP 0 runs to the end and writes the trainer's log history to LOG_JSON.
"""

import json
import os
import sys

from transformers import TrainerCallback

from mirror.errors import run_cli
from mirror.recipe import parse_args, train

kill_at, log_path, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]


class Kill(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == kill_at:
            os._exit(137)


def main(argv):
    result = train(*parse_args(argv, "sentence"), callbacks=[Kill()])
    with open(log_path, "w") as f:
        json.dump(result["log_history"], f)


run_cli(main, argv)
