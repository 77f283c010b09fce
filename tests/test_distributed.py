"""Several processes train the same objective as one process on the global batch (CPU, gloo).

The equivalence runs `tests/dist_step.py` (one MirrorTrainer epoch over 64 strings, dropout off) once in one process
with a batch of 8 and once under `accelerate launch` in two processes with 4 each, and compares every step's loss
and every gradient of the first step. The cached step (`--mini_batch_size`) is held to the same: two processes,
dropout off, give the one-process uncached loss and gradients; with dropout on, two cached processes give what two
processes of its uncached reference give (each mini-batch encoded with gradients, in the same order).
"""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import signalkit
import torch

REPO = Path(__file__).resolve().parents[1]
STEP = REPO / "tests" / "dist_step.py"
CPU_CONFIG = REPO / "recipes" / "accelerate" / "cpu_multi_process.yaml"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(nproc: int, *args) -> subprocess.CompletedProcess:
    if nproc == 1:
        cmd = [sys.executable, str(STEP), *map(str, args)]
    else:
        cmd = [
            sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_CONFIG),
            "--num_processes", str(nproc), "--main_process_port", str(free_port()), str(STEP), *map(str, args),
        ]
    proc = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def results(out: Path) -> list[dict]:
    return [torch.load(p, weights_only=False) for p in sorted(out.glob("rank*.pt"))]


@pytest.fixture(scope="module")
def runs(tiny_bert, tmp_path_factory):
    base = tmp_path_factory.mktemp("dist")
    launch(1, tiny_bert, base / "one", 8, 1, 0)
    launch(2, tiny_bert, base / "two_global", 4, 1, 1)  # length-chunked forward, one chunk per length or so
    launch(2, tiny_bert, base / "two_local", 4, 0, 0)
    return {name: results(base / name) for name in ("one", "two_global", "two_local")}


@pytest.fixture(scope="module")
def pair_runs(tiny_bert, tmp_path_factory):
    base = tmp_path_factory.mktemp("dist_pairs")
    launch(1, tiny_bert, base / "one", 8, 1, 0, "pairs")
    launch(2, tiny_bert, base / "two", 4, 1, 0, "pairs")
    launch(1, tiny_bert, base / "one_nomask", 8, 1, 0, "pairs_nomask")
    return {name: results(base / name) for name in ("one", "two", "one_nomask")}


@pytest.fixture(scope="module")
def cached_runs(tiny_bert, tmp_path_factory):
    base = tmp_path_factory.mktemp("dist_cached")
    launch(2, tiny_bert, base / "cached", 4, 1, 1, "strings", 0, 3)  # 8 rows per rank in mini-batches of 3, 3, 2; dropout 0
    launch(2, tiny_bert, base / "cached_dropout", 4, 1, 1, "strings", 0, 3, 0.1)
    launch(2, tiny_bert, base / "replay_dropout", 4, 1, 1, "strings", 0, 3, 0.1, 1)
    return {name: results(base / name) for name in ("cached", "cached_dropout", "replay_dropout")}


def assert_same_run(got: list[dict], want: list[dict], steps: int = 8) -> None:
    """Same mean loss over ranks at every step and the same (DDP-averaged) first-step gradients."""
    for step in range(steps):
        assert sum(r["loss"][step] for r in got) / len(got) == pytest.approx(
            sum(r["loss"][step] for r in want) / len(want), rel=1e-4
        ), step
    grads_got, grads_want = got[0]["grads"], want[0]["grads"]
    assert set(grads_got) == set(grads_want) and len(grads_want) > 10
    for name, g in grads_want.items():
        assert torch.allclose(grads_got[name], g, atol=1e-6, rtol=1e-4), name


@pytest.mark.slow
def test_two_processes_really_ran_and_split_every_global_batch(runs):
    one, two = runs["one"], runs["two_global"]
    assert [r["world"] for r in one] == [1] and [r["world"] for r in two] == [2, 2]
    assert len(one[0]["idx"]) == len(two[0]["idx"]) == len(two[1]["idx"]) == 8  # 64 strings / 8 per global step
    for step, global_batch in enumerate(one[0]["idx"]):
        shards = [r["idx"][step] for r in two]
        assert len(shards[0]) == len(shards[1]) == 4
        assert sorted(shards[0] + shards[1]) == sorted(global_batch)  # the same global batch, split across ranks
    seen = [i for r in two for batch in r["idx"] for i in batch]
    assert sorted(seen) == list(range(64))  # each string exactly once per epoch across ranks


@pytest.mark.slow
def test_global_negatives_give_the_one_process_loss_and_gradients(runs):
    one, two = runs["one"][0], runs["two_global"]
    # each rank's loss is over its own rows against the global batch; DDP averages the gradients
    for step in range(8):
        mean_loss = (two[0]["loss"][step] + two[1]["loss"][step]) / 2
        assert mean_loss == pytest.approx(one["loss"][step], rel=1e-4), step  # identical updates, step after step
    grads_one, grads_two = one["grads"], two[0]["grads"]
    assert set(grads_one) == set(grads_two) and len(grads_one) > 10
    for name, g in grads_one.items():
        assert torch.allclose(grads_two[name], g, atol=1e-6, rtol=1e-4), name


@pytest.mark.slow
def test_the_cached_step_gives_the_one_process_loss_and_gradients(runs, cached_runs):
    cached = cached_runs["cached"]
    assert [r["world"] for r in cached] == [2, 2] and [len(r["loss"]) for r in cached] == [8, 8]
    assert_same_run(cached, runs["one"])


@pytest.mark.slow
def test_the_cached_step_with_dropout_gives_its_replayed_reference(cached_runs):
    cached, replay = cached_runs["cached_dropout"], cached_runs["replay_dropout"]
    assert_same_run(cached, replay)
    plain = cached_runs["cached"]  # dropout really was on: the losses differ from the dropout-free run's
    assert abs(cached[0]["loss"][0] - plain[0]["loss"][0]) > 1e-4


@pytest.mark.slow
def test_local_negatives_only_is_a_different_objective(runs):
    one, local = runs["one"][0], runs["two_local"]
    mean_loss = sum(r["loss"][0] for r in local) / 2
    assert mean_loss < one["loss"][0] - 0.1  # 2 x 7 negatives per row instead of 15: an easier task
    g = one["grads"]["encoder.layer.0.attention.self.query.weight"]
    assert not torch.allclose(local[0]["grads"]["encoder.layer.0.attention.self.query.weight"], g, atol=1e-5)


@pytest.mark.slow
def test_a_short_two_process_training_saves_one_encoder_and_logs_once(tiny_bert, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_CONFIG),
            "--main_process_port", str(free_port()), str(REPO / "recipes" / "train_sentence.py"),
            "--model_name_or_path", str(tiny_bert), "--pooling", "mean", "--train_file",
            str(REPO / "data" / "sentences" / "en_stsb_train_10k.txt"), "--max_train_samples", "96",
            "--per_device_train_batch_size", "8", "--max_steps", "5", "--save_strategy", "steps", "--save_steps", "2",
            "--save_total_limit", "5", "--logging_steps", "1", "--output_dir", str(out), "--disable_tqdm", "true",
        ],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert "x 2 process(es)" in log and "global batch 16 x 2 rows" in log
    assert log.count("Saved the encoder") == 1
    assert log.count("'pos_cos'") == 5  # one log line per step, from the main process only
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["checkpoint-2", "checkpoint-4", "checkpoint-5", "final"]
    assert (out / "final" / "model.safetensors").is_file() and not (out / "final.tmp").exists()


@pytest.mark.slow
def test_a_signal_to_rank_0_only_stops_both_ranks_at_the_same_step_and_the_printed_command_resumes(tiny_bert, tmp_path):
    """SIGINT (Ctrl-C; SIGTERM takes the same path, tested in one process by tests/test_recipe.py) to rank 0 alone."""
    out, markers = tmp_path / "run", tmp_path / "markers"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CPU_CONFIG),
                "--num_processes", "2", "--main_process_port", str(free_port())]
    flags = ["--model_name_or_path", tiny_bert, "--pooling", "mean", "--train_file",
             REPO / "data" / "sentences" / "en_stsb_train_10k.txt", "--max_train_samples", 64,
             "--per_device_train_batch_size", 4, "--max_steps", 6, "--save_strategy", "no", "--logging_steps", 1,
             "--seed", 11, "--disable_tqdm", "true", "--output_dir", out]
    # rank 1 is not signalled: it learns of the signal through the step-end all-reduce, or it would wait forever
    # in the next step's gradient all-reduce while rank 0 saves and exits
    stopped, seconds = signalkit.run_and_signal(3, markers, tmp_path / "log.json", flags, signal.SIGINT, ranks=(0,),
                                                launcher=launcher)
    assert seconds < 90
    assert stopped.returncode != 0  # the launcher fails when a worker exits non-zero
    assert stopped.stderr.count("exitcode  : 130") == 2, stopped.stderr[-4000:]  # both ranks: their own status
    assert "SIGINT: saved" in stopped.stderr and "KeyboardInterrupt" not in stopped.stderr  # handled, not raised
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["checkpoint-3"]  # one step, agreed by both
    ckpt = out / "checkpoint-3"
    assert (ckpt / "rng_state_0.pth").is_file() and (ckpt / "rng_state_1.pth").is_file()
    assert json.loads((ckpt / "trainer_state.json").read_text())["global_step"] == 3

    command = signalkit.printed_resume_command(stopped.stderr)  # printed once, by rank 0
    assert command[:len(launcher)] == launcher and command[-2:] == ["--resume_from_checkpoint", "last"]
    resumed = subprocess.run(command, cwd=REPO, env=signalkit.ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert [h["step"] for h in json.loads((tmp_path / "log.json").read_text()) if "loss" in h] == [1, 2, 3, 4, 5, 6]
    assert (out / "final" / "model.safetensors").is_file()


@pytest.mark.parametrize("name", ["cpu_multi_process.yaml", "multi_gpu.yaml", "fsdp.yaml"])
def test_launch_configs_parse(name):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(REPO / "recipes" / "accelerate" / name))
    assert cfg.num_processes >= 2 and cfg.num_machines == 1
    if name == "fsdp.yaml":
        assert cfg.distributed_type.value == "FSDP" and cfg.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    single = load_config_from_file(str(REPO / "accelerate_config.yaml"))
    assert single.num_processes == 1 and single.distributed_type.value == "NO"


@pytest.mark.slow
def test_identical_strings_on_other_ranks_are_masked_like_in_one_process(pair_runs):
    one, two, nomask = pair_runs["one"][0], pair_runs["two"], pair_runs["one_nomask"][0]
    pairs = one["pairs"]
    crossing = 0  # steps where a string of rank 0's rows is also on rank 1's rows
    for step in range(8):
        strings = [{s for i in r["idx"][step] for s in pairs[i]} for r in two]
        crossing += bool(strings[0] & strings[1])
        mean_loss = (two[0]["loss"][step] + two[1]["loss"][step]) / 2
        assert mean_loss == pytest.approx(one["loss"][step], rel=1e-4), step  # the ids were gathered with the rows
    assert crossing == 8  # so every step needed the other rank's ids
    assert all(abs(a - b) > 1e-3 for a, b in zip(one["loss"], nomask["loss"]))  # the masking is really on
    for name, g in one["grads"].items():
        assert torch.allclose(two[0]["grads"][name], g, atol=1e-6, rtol=1e-4), name
