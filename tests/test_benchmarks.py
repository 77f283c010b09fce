"""The benchmark scripts run end to end in a tiny configuration, so they cannot rot (no timing is asserted)."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def test_train_speed_tiny(tiny_bert, tmp_path):
    out = tmp_path / "speed.csv"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "train_speed.py"), "--model", str(tiny_bert), "--levels",
         "sentence", "encode", "--steps", "2", "--warmup", "1", "--rounds", "1", "--batch_size", "8",
         "--max_strings", "40", "--output_csv", str(out), "--in_process"],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "measured fp32 matmul peak" in proc.stdout and "mirror / peer" in proc.stdout
    table = pd.read_csv(out, index_col=[0, 1])
    train = table.loc["sentence"]
    assert list(train.index) == ["mirror", "peer", "mirror / peer"]
    assert (train.loc[["mirror", "peer"], "sequences/s"] > 0).all() and (train.loc[["mirror", "peer"], "timed steps"] == 2).all()
    ratio = train.loc["mirror", "sequences/s"] / train.loc["peer", "sequences/s"]
    assert abs(train.loc["mirror / peer", "sequences/s"] - ratio) < 1e-9
    enc = table.loc["encode"]
    assert (enc.loc[["mirror", "peer"], "sentences/s"] > 0).all()


def test_quality_tiny(tiny_bert, tmp_path):
    """Two methods x two seeds on a tiny model and a small benchmark folder: the table has mean ± std rows."""
    from conftest import requires_shared_data

    data = tmp_path / "bench"
    data.mkdir()
    dev_lines = (REPO / "data" / "stsb" / "sts-dev.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (data / "sts-test.csv").write_text("".join(dev_lines[:60]), encoding="utf-8")
    simlex = requires_shared_data("simlex999", "SimLex-999.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    (data / "SimLex-999.txt").write_text("".join(simlex[:50]), encoding="utf-8")
    out = tmp_path / "quality"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "quality.py"), "--data_dir", str(data), "--output_dir", str(out),
         "--model", str(tiny_bert), "--seeds", "1", "2", "--methods", "mirror_sentence", "peer_sentence",
         "--max_steps", "2", "--batch_size", "8", "--max_train_samples", "32", "--suites", "sts", "lexical"],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = pd.read_csv(out / "quality_summary.csv", index_col=0)
    assert list(summary["n"]) == [1, 2, 2]  # the base model once, each method over two seeds
    assert summary.index[1] == "Mirror, sentence recipe" and summary.index[2].startswith("peer")
    runs = pd.read_csv(out / "quality_runs.csv", index_col=0)
    mirror_rows = runs[runs.index.str.contains("mirror_sentence")]
    assert len(mirror_rows) == 2
    col = [c for c in runs.columns if c.startswith("STS-B")][0]
    assert abs(summary.loc["Mirror, sentence recipe", f"{col} mean"] - mirror_rows[col].mean()) < 1e-9
    assert abs(summary.loc["Mirror, sentence recipe", f"{col} std"] - mirror_rows[col].std(ddof=1)) < 1e-9
    assert "±" in proc.stdout and "SimLex-999" in proc.stdout


def test_chunking_tiny(tiny_bert):
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "chunking.py"), "--model", str(tiny_bert), "--batch_size", "16",
         "--batches", "2", "--repeats", "1", "--costs", "0", "1", "100000"],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("|") and "---" not in line][1:]
    assert len(lines) == 3
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    padded = [float(r[2]) for r in rows]
    chunks = [float(r[4]) for r in rows]
    assert chunks[0] == 1 and chunks[1] > 1 and chunks[2] == 1  # one forward; about one chunk per length; one chunk
    assert padded[1] < padded[0] and padded[2] == padded[0]  # cheap chunks drop padding; one chunk keeps it all
