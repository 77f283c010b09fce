"""benchmarks/gpu_check.py: the model sizes and the kept vocabulary are the real ones, and the script runs end to end
in its tiny CPU configuration, with the peer and without it (no timing is asserted)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import benchmark_script
from transformers import BertConfig, BertModel

REPO = Path(__file__).resolve().parents[1]
GPU_CHECK = benchmark_script("gpu_check")
COLUMNS = ["model", "contender", "work", "s", "s/step", "sequences/s", "TFLOP/s", "% of peak", "mirror / peer", "note"]
NUMBERS = ["s", "s/step", "sequences/s", "TFLOP/s", "% of peak"]


def table_rows(printed: str) -> list[dict]:
    lines = [line for line in printed.splitlines() if line.startswith("|") and "---" not in line]
    head = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert head == COLUMNS
    return [dict(zip(head, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[1:]]


def number(cell: str) -> float:
    return float(cell.replace(",", "").rstrip(" ×"))


@pytest.mark.parametrize("name, parameters", [("bert-base", 109_482_240), ("MiniLM-L6", 22_713_216)])
def test_model_sizes_are_the_real_checkpoints(name, parameters):
    """bert-base-uncased's and all-MiniLM-L6-v2's parameter counts (pooler included), built on the meta device."""
    with torch.device("meta"):
        model = BertModel(BertConfig(vocab_size=30522, **GPU_CHECK.MODELS[name]))
    assert sum(p.numel() for p in model.parameters()) == parameters


def test_kept_vocabulary_tokenizes_as_minilm(bert_tokenizer, sentences, tmp_path):
    kept = GPU_CHECK.kept_tokenizer(tmp_path / "tok")
    assert (kept.vocab_size, kept.cls_token_id, kept.sep_token_id, kept.mask_token_id) == (30522, 101, 102, 103)
    assert kept(sentences[:200])["input_ids"] == bert_tokenizer(sentences[:200])["input_ids"]


def test_deadline_stops_training_only_once_passed():
    control = type("Control", (), {"should_training_stop": False})()
    later = GPU_CHECK.deadline_callback(time.perf_counter() + 3600)
    later.on_step_end(None, None, control)
    assert not control.should_training_stop and not later.hit
    passed = GPU_CHECK.deadline_callback(time.perf_counter() - 1)
    passed.on_step_end(None, None, control)
    assert control.should_training_stop and passed.hit


def test_what_mirror_needs_missing_stops_with_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "psutil", None)
    with pytest.raises(SystemExit) as stop:
        GPU_CHECK.main(["--tiny"])
    message = str(stop.value.code)
    assert message.startswith("gpu_check cannot run: missing psutil (ModuleNotFoundError: ") and "\n" not in message
    assert capsys.readouterr().out == ""  # nothing measured


@pytest.mark.slow
def test_tiny_run_times_mirror_and_the_peer(capsys):
    GPU_CHECK.main(["--tiny", "--threads", str(torch.get_num_threads())])
    printed = capsys.readouterr().out
    assert "peer not run" not in printed
    peak = [line for line in printed.splitlines() if line.startswith("peak: ")]
    assert len(peak) == 1 and float(peak[0].split()[1]) > 0
    rows = table_rows(printed)
    assert [(r["model"], r["contender"], r["work"].split()[0]) for r in rows] == [
        ("tiny", "mirror", "train"), ("tiny", "mirror", "encode"), ("tiny", "peer", "train"), ("tiny", "peer", "encode")
    ]  # fmt: skip
    assert all(number(r[key]) > 0 for r in rows for key in NUMBERS)
    assert all(r["note"] == "" for r in rows)  # whole epochs, no cap
    train_mirror, encode_mirror, train_peer, encode_peer = rows
    assert train_mirror["work"] == "train 1 epoch (4 steps)"  # 128 sentences, batch 32
    assert encode_mirror["work"] == "encode 96 sentences (2 batches)"
    for mine, peer in ((train_mirror, train_peer), (encode_mirror, encode_peer)):
        ratio = number(mine["sequences/s"]) / number(peer["sequences/s"])
        assert number(mine["mirror / peer"]) == pytest.approx(ratio, rel=0.02)  # table cells are rounded
        assert peer["mirror / peer"] == ""


@pytest.mark.slow
def test_without_the_peer_mirror_is_timed_alone(monkeypatch, capsys):
    """sentence-transformers that cannot be imported: one line names it, and mirror's rows still come, here with the
    epoch capped by --max_steps and extrapolated."""
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # `import sentence_transformers` now fails
    GPU_CHECK.main(["--tiny", "--max_steps", "2", "--threads", str(torch.get_num_threads())])
    printed = capsys.readouterr().out
    notes = [line for line in printed.splitlines() if "peer not run" in line]
    assert len(notes) == 1
    assert notes[0].startswith("peer not run: missing sentence_transformers (") and notes[0].endswith("timing mirror alone")
    rows = table_rows(printed)
    assert [(r["contender"], r["work"].split()[0]) for r in rows] == [("mirror", "train"), ("mirror", "encode")]
    assert all(number(r[key]) > 0 for r in rows for key in NUMBERS)
    assert all(r["mirror / peer"] == "" for r in rows)
    train = rows[0]
    assert train["note"] == "2 of 4 steps timed (--max_steps), s per epoch extrapolated"
    assert number(train["s"]) == pytest.approx(4 * number(train["s/step"]), rel=0.01)


@pytest.mark.slow
def test_starts_from_a_plain_command_line_and_keeps_to_its_budget():
    """`python benchmarks/gpu_check.py` finds its sibling benchkit and the repository's files from the root; a spent
    time budget measures nothing and says so."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}  # PYTHONPATH: conftest's checkout
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--tiny", "--budget_s", "0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("# GPU check, ")
    assert table_rows(proc.stdout) == []
    assert "time budget of 0 s reached: not measured: tiny mirror, tiny peer\n" in proc.stdout
