"""The preemption callback on its own: a signal is noted, acted on at the next step end through the Trainer's
`control`, and the handlers are restored. Real runs that are signalled: tests/test_recipe.py (one process) and
tests/test_distributed.py (two)."""

import os
import signal
import sys
import types

import pytest
from transformers import TrainerControl, TrainerState

from mirror.preemption import Preempted, Preemption, agree_max, exit_status, resume_command

ARGS = types.SimpleNamespace(world_size=1, device="cpu")


def step_end(preemption, step, max_steps=10):
    state, control = TrainerState(global_step=step, max_steps=max_steps), TrainerControl()
    return preemption.on_step_end(ARGS, state, control)


def test_no_signal_changes_nothing():
    control = step_end(Preemption(), 3)
    assert not control.should_save and not control.should_training_stop


def test_sigterm_saves_and_stops_at_the_next_step_end_then_handlers_are_restored(capfd):
    before = signal.getsignal(signal.SIGTERM)
    with Preemption() as preemption:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line
        assert preemption.received == signal.SIGTERM and preemption.step is None
        control = step_end(preemption, 3)
    assert control.should_save and control.should_training_stop
    assert (preemption.signum, preemption.step) == (signal.SIGTERM, 3)
    assert signal.getsignal(signal.SIGTERM) is before
    assert "SIGTERM received; saving a checkpoint after this step" in capfd.readouterr().err


def test_a_signal_at_the_last_step_lets_the_run_finish():
    preemption = Preemption()
    preemption.received = signal.SIGTERM
    control = step_end(preemption, 10, max_steps=10)
    assert not control.should_training_stop and preemption.step is None


def test_the_epoch_end_after_the_stop_does_not_save_the_same_checkpoint_again():
    preemption = Preemption()
    preemption.received = signal.SIGINT
    step_end(preemption, 4)
    control = TrainerControl(should_save=True, should_evaluate=True)  # what save_strategy=epoch would ask
    control = preemption.on_epoch_end(ARGS, TrainerState(global_step=4), control)
    assert not control.should_save and not control.should_evaluate


def test_ctrl_c_twice_stops_at_once():
    with Preemption() as preemption:
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert preemption.received == signal.SIGINT


def test_exit_prints_the_resume_command_on_the_main_process_only(capsys, tmp_path):
    preemption = Preemption()
    preemption.signum, preemption.step = signal.SIGTERM, 7
    err = preemption.exit(tmp_path, main_process=False)
    assert isinstance(err, SystemExit) and isinstance(err, Preempted) and err.code == 143
    assert capsys.readouterr().err == ""
    preemption.exit(tmp_path, main_process=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"SIGTERM: saved {tmp_path / 'checkpoint-7'} at step 7 and stopped (exit status 143); " \
                       f"resume the run from {os.getcwd()} with:"
    assert lines[1].startswith("  ") and lines[1].endswith(" --resume_from_checkpoint last")
    assert (exit_status(signal.SIGTERM), exit_status(signal.SIGINT)) == (143, 130)


def test_resume_command_replaces_an_earlier_resume_flag_and_quotes():
    cmd = ["python", "train.py", "--output_dir", "my run", "--resume_from_checkpoint", "out/checkpoint-5", "--seed", "1"]
    assert resume_command(cmd) == "python train.py --output_dir 'my run' --seed 1 --resume_from_checkpoint last"
    assert resume_command(["python", "t.py", "--resume_from_checkpoint=x"]) == "python t.py --resume_from_checkpoint last"
    assert resume_command().startswith(sys.orig_argv[0])  # this process's own command line (pytest's)


def test_agree_max_with_one_process_is_the_value():
    assert agree_max(15, ARGS) == 15 and agree_max(0, ARGS) == 0
