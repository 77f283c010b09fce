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
