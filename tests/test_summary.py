"""Multi-seed summary: mean and sample std per benchmark, checked against values computed by hand."""

import json
import logging
import math
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from mirror.errors import ConfigError, DataError
from mirror.summary import format_mean_std, seed_group, seed_summary

from conftest import recipe_script

ROWS = [
    {"model": "runs/seed1/final", "STS12": 70.0, "SICK-R": 1.0, "avg": 60.0},
    {"model": "runs/seed2/final", "STS12": 72.0, "SICK-R": 2.0, "avg": 61.0},
    {"model": "runs/seed3/final", "STS12": 74.0, "SICK-R": 4.0, "avg": 65.0},
]


def test_mean_and_sample_std_by_hand():
    out = seed_summary(ROWS)
    assert list(out.index) == ["runs/seed*/final"]
    assert list(out.columns) == ["n", "STS12 mean", "STS12 std", "SICK-R mean", "SICK-R std", "avg mean", "avg std"]
    row = out.iloc[0]
    assert row["n"] == 3
    assert row["STS12 mean"] == pytest.approx(72.0) and row["STS12 std"] == pytest.approx(2.0)
    # SICK-R 1, 2, 4: mean 7/3; squared deviations 16/9 + 1/9 + 25/9 = 42/9; / (n - 1) = 7/3
    assert row["SICK-R mean"] == pytest.approx(7 / 3) and row["SICK-R std"] == pytest.approx(math.sqrt(7 / 3))
    # avg 60, 61, 65: mean 62; squared deviations 4 + 1 + 9 = 14; / 2 = 7
    assert row["avg mean"] == pytest.approx(62.0) and row["avg std"] == pytest.approx(math.sqrt(7))
    text = format_mean_std(out)
    assert text.loc["runs/seed*/final", "STS12"] == "72.00 ± 2.00"
    assert text.loc["runs/seed*/final", "avg"] == "62.00 ± 2.65"


def test_from_the_evaluation_suites_csvs(tmp_path):
    paths = []
    for i, row in enumerate(ROWS, start=1):
        path = tmp_path / f"results{i}.csv"
        pd.DataFrame([{"model": "bert-base-uncased", "STS12": 30.0, "SICK-R": 40.0, "avg": 35.0}, row]).to_csv(path, index=False)
        paths.append(path)
    out = seed_summary(paths)
    assert list(out.index) == ["bert-base-uncased", "runs/seed*/final"]
    base = out.loc["bert-base-uncased"]
    assert base["n"] == 3 and base["STS12 mean"] == 30.0 and base["STS12 std"] == 0.0
    assert out.loc["runs/seed*/final", "STS12 std"] == pytest.approx(2.0)
    # one CSV holding all three seeds gives the same numbers
    pd.DataFrame(ROWS).to_csv(tmp_path / "all.csv", index=False)
    pd.testing.assert_frame_equal(seed_summary(tmp_path / "all.csv"), out.loc[["runs/seed*/final"]])


def test_grouping_and_single_runs():
    assert seed_group("out/seed_12/final") == "out/seed*/final" and seed_group("bert-base-uncased") == "bert-base-uncased"
    out = seed_summary([{"model": "a", "x": 1.0}, {"model": "b", "x": 3.0}], group=None)
    assert list(out.index) == ["all"] and out.loc["all", "x mean"] == 2.0
    single = seed_summary([{"model": "only", "x": 5.0}])
    assert math.isnan(single.loc["only", "x std"]) and format_mean_std(single).loc["only", "x"] == "5.00"


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(DataError, match="nope.csv: no such results file"):
        seed_summary(tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_text("name,STS12\na,1\n")
    with pytest.raises(DataError, match="bad.csv: no 'model' column"):
        seed_summary(tmp_path / "bad.csv")
    (tmp_path / "text.csv").write_text("model,note\na,hello\n")
    with pytest.raises(DataError, match="no numeric benchmark column"):
        seed_summary(tmp_path / "text.csv")


def test_multi_seed_script_trains_evaluates_and_summarises(tiny_bert, tmp_path, capsys):
    multi_seed = recipe_script("multi_seed")
    repo = Path(__file__).resolve().parents[1]
    words = tmp_path / "words.txt"
    words.write_text("\n".join((repo / "data" / "words" / "en.txt").read_text(encoding="utf-8").splitlines()[:32]))
    dev = tmp_path / "dev.csv"
    dev.write_text("".join((repo / "data" / "stsb" / "sts-dev.csv").read_text(encoding="utf-8").splitlines(keepends=True)[:40]))
    # a stand-in for the evaluation suite: writes {run_dir}/results.csv with a row for the encoder
    fake_eval = (
        f"{sys.executable} -c \"import sys, pathlib; seed = int(sys.argv[3]); "
        "pathlib.Path(sys.argv[2], 'results.csv').write_text(f'model,STS-B,avg\\n{sys.argv[1]},{70 + 2 * seed},{60 + seed}\\n')\" "
        "{encoder} {run_dir} {seed}"
    )
    out = tmp_path / "seeds"
    multi_seed.main([
        "--level", "word", "--seeds", "1", "2", "--eval_command", fake_eval,
        "--model_name_or_path", str(tiny_bert), "--train_file", str(words), "--stsb_dev_file", str(dev),
        "--output_dir", str(out), "--per_device_train_batch_size", "8", "--max_steps", "2", "--disable_tqdm", "true",
        "--report_to", "none",
    ])
    for seed in (1, 2):
        cfg = json.loads((out / f"seed{seed}" / "final" / "mirror_config.json").read_text())
        assert cfg["training"]["seed"] == seed and cfg["training"]["temperature"] == 0.2
    summary = pd.read_csv(out / "seed_summary.csv", index_col=0)
    assert summary.loc[f"{out}/seed*/final", "STS-B mean"] == pytest.approx(73.0)  # 72, 74
    assert summary.loc[f"{out}/seed*/final", "STS-B std"] == pytest.approx(math.sqrt(2.0))
    dev_summary = pd.read_csv(out / "seed_summary_dev.csv", index_col=0)
    assert dev_summary.loc[f"{tiny_bert} (before)", "n"] == 2
    assert dev_summary.loc[f"{tiny_bert} (before)", "stsb_dev_spearman std"] == 0.0  # same base model, same score
    assert "± " in capsys.readouterr().out
    # an interrupted series resumes: finished seeds are reused, not retrained
    mtime = (out / "seed1" / "final" / "model.safetensors").stat().st_mtime
    multi_seed.main(["--level", "word", "--seeds", "1", "--model_name_or_path", str(tiny_bert), "--train_file",
                     str(words), "--output_dir", str(out), "--per_device_train_batch_size", "8", "--max_steps", "2"])
    assert (out / "seed1" / "final" / "model.safetensors").stat().st_mtime == mtime


def test_summarize_script(tmp_path, capsys):
    summarize_seeds = recipe_script("summarize_seeds")
    pd.DataFrame(ROWS).to_csv(tmp_path / "all.csv", index=False)
    summarize_seeds.main([str(tmp_path / "all.csv"), "--output", str(tmp_path / "summary.csv")])
    assert "72.00 ± 2.00" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "summary.csv", index_col=0).loc["runs/seed*/final", "STS12 std"] == pytest.approx(2.0)


@pytest.mark.slow  # five short trainings, ~30 s
def test_multi_seed_resumes_a_preempted_series(tiny_bert, tmp_path, caplog):
    """After a preemption the series is run again with --resume_from_checkpoint last: the finished seed is reused,
    the interrupted one continues from its newest complete checkpoint, one that never saved (or saved only an
    incomplete checkpoint) trains from the start."""
    multi_seed = recipe_script("multi_seed")
    repo = Path(__file__).resolve().parents[1]
    words = tmp_path / "words.txt"
    words.write_text("\n".join((repo / "data" / "words" / "en.txt").read_text(encoding="utf-8").splitlines()[:48]))
    out = tmp_path / "seeds"
    flags = ["--level", "word", "--model_name_or_path", str(tiny_bert), "--train_file", str(words), "--output_dir",
             str(out), "--per_device_train_batch_size", "8", "--max_steps", "3", "--save_strategy", "steps",
             "--save_steps", "1", "--save_total_limit", "3", "--disable_tqdm", "true", "--report_to", "none",
             "--stsb_dev_file", ""]  # fmt: skip
    multi_seed.main(["--seeds", "1", "2", "3", *flags])
    # what a preemption during seed 2 leaves: seed 1 finished, seed 2 at checkpoint-1 (checkpoint-2 half written),
    # seed 3 with an incomplete first checkpoint
    shutil.rmtree(out / "seed2" / "final")
    shutil.rmtree(out / "seed2" / "checkpoint-3")
    (out / "seed2" / "checkpoint-2" / "trainer_state.json").unlink()
    shutil.rmtree(out / "seed3")
    (out / "seed3" / "checkpoint-1").mkdir(parents=True)
    (out / "seed3" / "checkpoint-1" / "model.safetensors").write_bytes(b"")
    kept = (out / "seed1" / "final" / "model.safetensors").stat().st_mtime
    with caplog.at_level(logging.WARNING, logger="mirror"):
        multi_seed.main(["--seeds", "1", "2", "3", *flags, "--resume_from_checkpoint", "last"])
    log = caplog.text
    assert (out / "seed1" / "final" / "model.safetensors").stat().st_mtime == kept
    assert "seed 1: " in log and "reusing it" in log
    assert "passing over checkpoint-2" in log  # seed 2 continued from checkpoint-1
    state = json.loads((out / "seed2" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and (out / "seed2" / "final").is_dir()
    assert "seed 3: no complete checkpoint" in log and (out / "seed3" / "final").is_dir()
    with pytest.raises(ConfigError, match="one checkpoint cannot serve several seeds"):
        multi_seed.main(["--seeds", "1", "2", *flags, "--resume_from_checkpoint", str(out / "seed2" / "checkpoint-1")])
