"""Several machines: recipes/accelerate/multi_node.yaml and recipes/launch.slurm.

One machine plays two: two `accelerate launch --num_machines 2 --machine_rank {0,1} --main_process_ip 127.0.0.1`
launchers, started together, each start one process of `tests/dist_step.py` (gloo on the CPU); the pair must train
exactly what one process trains on the same global batch of 8: the same loss at every step and the same encoder
after the epoch. The SLURM script is run against stand-ins for `srun`, `scontrol` and `accelerate` that print the
launch command each node would run.
"""

import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import torch
from test_distributed import ENV, STEP, free_port, results

REPO = Path(__file__).resolve().parents[1]
MULTI_NODE = REPO / "recipes" / "accelerate" / "multi_node.yaml"
SLURM = REPO / "recipes" / "launch.slurm"
TIMEOUT = 300  # seconds for both "machines" together


def two_machines(*args) -> list[str]:
    """Machine ranks 0 and 1 as two concurrent launchers (one process each), both killed after TIMEOUT seconds or
    once the other has failed. Returns each launcher's output (written to files, so neither blocks on a full pipe)."""
    port = free_port()
    procs, logs = [], [tempfile.TemporaryFile("w+") for _ in range(2)]
    try:
        for rank in (0, 1):
            cmd = [
                sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(MULTI_NODE),
                "--num_machines", "2", "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1",
                "--main_process_port", str(port), "--num_processes", "2", str(STEP), *map(str, args),
            ]
            procs.append(subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=logs[rank], stderr=subprocess.STDOUT))
        deadline = time.monotonic() + TIMEOUT
        # until both exit, one fails (its peer would wait for it until the deadline) or the time is up
        while any(p.poll() is None for p in procs) and not any(p.returncode for p in procs) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:  # the launcher and its workers (torchrun starts each in a session of its own)
                for child in psutil.Process(p.pid).children(recursive=True):
                    child.kill()
                p.kill()
                p.wait()
    outputs = []
    for log in logs:
        log.seek(0)
        outputs.append(log.read())
        log.close()
    for rank, (p, out) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, f"machine {rank} (exit {p.returncode}; killed if negative):\n{out[-4000:]}"
    return outputs


@pytest.fixture(scope="module")
def runs(tiny_bert, tmp_path_factory):
    base = tmp_path_factory.mktemp("multinode")
    one = subprocess.run([sys.executable, str(STEP), *map(str, (tiny_bert, base / "one", 8, 1, 0, "strings", 1))], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    assert one.returncode == 0, one.stderr[-4000:]
    two_machines(tiny_bert, base / "two", 4, 1, 0, "strings", 1)
    return results(base / "one"), results(base / "two")


@pytest.mark.slow
def test_two_machines_train_what_one_process_trains(runs, tiny_bert):
    from transformers import AutoModel

    (one,), two = runs
    assert [r["world"] for r in two] == [2, 2] and [r["rank"] for r in two] == [0, 1]  # one group over both launchers
    for step, global_batch in enumerate(one["idx"]):  # each global batch split over the two machines
        assert sorted(two[0]["idx"][step] + two[1]["idx"][step]) == sorted(global_batch), step
    assert len(one["loss"]) == len(two[0]["loss"]) == len(two[1]["loss"]) == 8
    for step in range(8):  # each machine's loss covers its rows against the global batch: their mean is the loss
        assert (two[0]["loss"][step] + two[1]["loss"][step]) / 2 == pytest.approx(one["loss"][step], abs=1e-5), step

    start = AutoModel.from_pretrained(tiny_bert).state_dict()
    assert set(one["weights"]) == set(two[0]["weights"]) == set(two[1]["weights"]) == set(start)
    moved = max((one["weights"][n] - w).abs().max().item() for n, w in start.items())
    assert moved > 1e-4  # the epoch changed the encoder by far more than the tolerance below
    for rank in (0, 1):
        for name, w in one["weights"].items():
            assert torch.allclose(two[rank]["weights"][name], w, rtol=0, atol=1e-5), (rank, name)


def test_multi_node_config_parses_with_two_machines():
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(MULTI_NODE))
    assert cfg.num_machines == 2 and cfg.distributed_type.value == "MULTI_GPU" and cfg.rdzv_backend == "static"
    assert cfg.num_processes % cfg.num_machines == 0 and cfg.num_processes > cfg.num_machines  # a total, not per machine
    assert cfg.main_process_ip is None  # must come from the command line: no silent loopback default


def fake_tools(folder: Path) -> dict:
    """`scontrol` names two hosts, `srun` runs its command once per node with SLURM_NODEID set, `accelerate`
    prints its arguments one per line: enough SLURM to see what each node would launch."""
    tools = {
        "scontrol": "printf 'gpu-node-07\\ngpu-node-08\\n'",
        "srun": 'while [[ "$1" == --* ]]; do shift; done\nfor i in $(seq 0 $((SLURM_NNODES - 1))); do SLURM_NODEID=$i "$@"; done',
        "accelerate": 'echo "== launch"; printf "%s\\n" "$@"',
    }
    for name, body in tools.items():
        path = folder / name
        path.write_text(f"#!/usr/bin/env bash\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_NODELIST": "gpu-node-[07-08]"}


def test_launch_slurm_is_valid_bash():
    proc = subprocess.run(["bash", "-n", str(SLURM)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = SLURM.read_text()
    assert "#SBATCH --signal=TERM@60" in text and "#SBATCH --ntasks-per-node=1" in text


def test_launch_slurm_starts_one_launcher_per_node(tmp_path):
    env = {**fake_tools(tmp_path), "SLURM_NNODES": "2", "SLURM_GPUS_ON_NODE": "4", "SLURM_SUBMIT_DIR": str(REPO)}
    proc = subprocess.run(["bash", str(SLURM), "--max_steps", "5"], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    launches = [block.split("\n")[1:-1] for block in proc.stdout.split("== launch")[1:]]
    assert len(launches) == 2
    for rank, argv in enumerate(launches):
        assert argv[:13] == [  # the launcher's own flags: this node's rank, node 0's host, N x G processes in all
            "launch", "--config_file", "recipes/accelerate/multi_node.yaml", "--num_machines", "2", "--machine_rank", str(rank),
            "--main_process_ip", "gpu-node-07", "--main_process_port", "29500", "--num_processes", "8",
        ], argv
        assert argv[13:] == [
            "recipes/train_sentence.py", "--config", "recipes/configs/sentence_bert-base-uncased.yaml",
            "--per_device_train_batch_size", "25", "--max_steps", "5",
        ], argv  # 200 strings / (2 nodes x 4 GPUs)


def test_launch_slurm_refuses_a_global_batch_that_does_not_split(tmp_path):
    env = {**fake_tools(tmp_path), "SLURM_NNODES": "3", "SLURM_GPUS_ON_NODE": "4", "SLURM_SUBMIT_DIR": str(REPO)}
    proc = subprocess.run(["bash", str(SLURM)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "== launch" not in proc.stdout
    assert "global batch 200 does not split over 3 nodes x 4 GPUs = 12 processes" in proc.stderr
    ok = subprocess.run(["bash", str(SLURM)], env={**env, "GLOBAL_BATCH": "240"}, capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and ok.stdout.count("== launch") == 3, ok.stderr
    assert ok.stdout.split("--per_device_train_batch_size\n")[1].split("\n")[0] == "20"  # 240 / 12
