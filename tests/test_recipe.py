"""End-to-end runs of the recipe scripts, as a user launches them (subprocess, offline)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mirror

REPO = Path(__file__).resolve().parents[1]
DEV = REPO / "data" / "stsb" / "sts-dev.csv"


def run_script(script, *args, cwd=REPO):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(
        [sys.executable, str(REPO / "recipes" / script), *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture
def small_dev(tmp_path):
    path = tmp_path / "dev.csv"
    path.write_text("".join(DEV.read_text(encoding="utf-8").splitlines(keepends=True)[:80]), encoding="utf-8")
    return path


def test_sentence_recipe_on_the_packaged_minilm(tmp_path, small_dev):
    out = tmp_path / "run"
    proc = run_script(
        "train_sentence.py", "--config", "recipes/configs/sentence_minilm.yaml", "--output_dir", out,
        "--max_steps", 2, "--per_device_train_batch_size", 16, "--max_train_samples", 64,
        "--stsb_dev_file", small_dev, "--disable_tqdm", "true",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "STS-B dev (80 pairs), Spearman" in proc.stdout and "(before)" in proc.stdout and "(after)" in proc.stdout
    rows = json.loads((out / "dev_results.json").read_text())
    assert len(rows) == 2 and all(60 < r["stsb_dev_spearman"] <= 100 for r in rows)
    final = out / "final"
    cfg = json.loads((final / "mirror_config.json").read_text())
    assert cfg["model"]["pooling"] == "mean" and cfg["training"]["temperature"] == 0.04
    assert cfg["data"]["span_mask_len"] == 5 and cfg["corpus"]["kept"] == 64
    enc = mirror.load_encoder(str(final))
    assert enc.pooling == "mean"
    emb = mirror.encode(enc, ["A man is playing a guitar.", "A man plays the guitar."])
    assert emb.shape == (2, 384) and np.isfinite(emb).all()
    # an existing encoder is not overwritten by accident
    again = run_script("train_sentence.py", "--config", "recipes/configs/sentence_minilm.yaml", "--output_dir", out, "--max_steps", 1)
    assert again.returncode == 2 and "already holds a finished encoder" in again.stderr
    assert "Traceback" not in again.stderr


def test_word_recipe_on_a_tiny_bert(tmp_path, tiny_bert):
    words = tmp_path / "words.txt"
    words.write_text("\n".join(Path(REPO / "data" / "words" / "en.txt").read_text(encoding="utf-8").splitlines()[:64]))
    out = tmp_path / "word_run"
    proc = run_script(
        "train_word.py", "--model_name_or_path", tiny_bert, "--pooling", "cls", "--train_file", words,
        "--output_dir", out, "--per_device_train_batch_size", 16, "--disable_tqdm", "true",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = json.loads((out / "final" / "mirror_config.json").read_text())
    assert cfg["training"]["temperature"] == 0.2 and cfg["data"]["span_mask_len"] == 0
    assert cfg["data"]["max_length"] == 25 and cfg["training"]["num_train_epochs"] == 2
    state = json.loads(next(out.glob("checkpoint-*/trainer_state.json")).read_text())
    assert state["global_step"] == 8  # 64 words / 16 per batch x 2 epochs
    assert mirror.load_encoder(str(out / "final")).pooling == "cls"


def test_a_user_error_exits_2_with_one_line_and_no_traceback(tmp_path):
    proc = run_script("train_sentence.py", "--train_file", tmp_path / "nope.txt", "--output_dir", tmp_path / "o")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "nope.txt: no such file" in proc.stderr
    assert "Traceback" not in proc.stderr
    debug = run_script("train_sentence.py", "--train_file", tmp_path / "nope.txt", "--output_dir", tmp_path / "o", "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr
