"""The training recipe: every input checked before training (one readable line, exit status 2), nothing of an
earlier run lost, seeded runs reproducible, a killed run resumable, and the recipe scripts end to end."""

import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers.trainer_utils import rotate_checkpoints

import mirror
import signalkit
from mirror.checkpoints import missing_parts
from mirror.errors import run_cli
from mirror.recipe import parse_args, resolve_checkpoint, train

REPO = Path(__file__).resolve().parents[1]
DEV = REPO / "data" / "stsb" / "sts-dev.csv"
SENTENCES = REPO / "data" / "sentences" / "en_stsb_train_10k.txt"
MAIN = runpy.run_path(str(REPO / "recipes" / "train_sentence.py"), run_name="recipe")["main"]


def corpus(tmp_path, n=64, name="corpus.txt"):
    lines = list(dict.fromkeys(SENTENCES.read_text(encoding="utf-8").splitlines()))[:n]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli_error(capsys, argv) -> str:
    """Run the sentence recipe's CLI in-process; it must exit 2 with one 'error:' line and no traceback."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        run_cli(MAIN, [str(a) for a in argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in err
    return last


@pytest.fixture
def base_args(tiny_bert, tmp_path):
    return ["--model_name_or_path", tiny_bert, "--output_dir", tmp_path / "out", "--per_device_train_batch_size", 8,
            "--disable_tqdm", "true"]


# ---- bad input: one test per case, all before training starts ----

def test_missing_corpus(capsys, base_args, tmp_path):
    err = cli_error(capsys, base_args + ["--train_file", tmp_path / "missing.txt"])
    assert "missing.txt: no such file" in err


def test_empty_and_blank_only_corpus(capsys, base_args, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    assert "empty.txt: empty" in cli_error(capsys, base_args + ["--train_file", tmp_path / "empty.txt"])
    (tmp_path / "blank.txt").write_text("\n \n\t\n")
    assert "blank.txt: every line is blank" in cli_error(capsys, base_args + ["--train_file", tmp_path / "blank.txt"])


def test_corpus_that_is_not_utf8_names_line_and_byte(capsys, base_args, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"a fine first line\nsecond line\ncaf\xe9\n")
    err = cli_error(capsys, base_args + ["--train_file", bad])
    assert "latin1.txt, line 3: not valid UTF-8 (byte offset 33" in err


def test_corpus_that_is_a_directory(capsys, base_args, tmp_path):
    assert "is a directory" in cli_error(capsys, base_args + ["--train_file", tmp_path])


def test_fewer_strings_than_the_batch(capsys, base_args, tmp_path):
    small = corpus(tmp_path, n=5)
    err = cli_error(capsys, base_args + ["--train_file", small])
    assert "5 distinct strings, fewer than one global batch of 8" in err and "lower the batch size" in err


def test_model_path_missing_or_not_an_encoder(capsys, base_args, tmp_path):
    args = base_args + ["--train_file", corpus(tmp_path)]
    err = cli_error(capsys, args + ["--model_name_or_path", tmp_path / "no_model_here"])
    assert "no_model_here" in err
    from transformers import GPT2Config, GPT2Model

    GPT2Model(GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=100)).save_pretrained(tmp_path / "gpt2")
    err = cli_error(capsys, args + ["--model_name_or_path", tmp_path / "gpt2"])
    assert "model_type 'gpt2' is not a BERT-like encoder" in err


def test_hub_id_while_offline_fails_fast(capsys, base_args, tmp_path, monkeypatch):
    args = base_args + ["--train_file", corpus(tmp_path), "--model_name_or_path", "some-org/some-encoder"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "HF_HUB_OFFLINE=1 forbids downloading it" in cli_error(capsys, args)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: an unreachable Hub
    assert "the Hub (http://127.0.0.1:9) cannot be reached from this machine" in cli_error(capsys, args)


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--temperature", "0"], "--temperature must be > 0"),
        (["--span_mask_len", "-3"], "--span_mask_len must be >= 0"),
        (["--pooling", "max"], "--pooling must be one of cls, mean"),
        (["--per_device_train_batch_size", "1"], "--per_device_train_batch_size must be at least 2"),
        (["--temprature", "0.1"], "unknown argument '--temprature'"),
    ],
)
def test_impossible_settings(capsys, base_args, tmp_path, flags, words):
    assert words in cli_error(capsys, base_args + ["--train_file", corpus(tmp_path)] + flags)


@pytest.mark.slow
def test_an_over_long_line_is_truncated_and_counted_not_an_error(base_args, tmp_path, caplog):
    path = corpus(tmp_path, n=16)
    with path.open("a") as f:
        f.write("word " * 5000 + "\n")
    argv = [str(a) for a in base_args + ["--train_file", path, "--max_steps", 1, "--save_strategy", "no"]]
    with caplog.at_level("INFO", logger="mirror"):
        result = train(*parse_args(argv, "sentence"))
    assert "1 of 17 strings are longer than --max_length 50 tokens (longest 5002) and will be truncated" in caplog.text
    cfg = json.loads((Path(result["encoder_dir"]) / "mirror_config.json").read_text())
    assert cfg["corpus"]["truncated"] == 1


def test_an_earlier_run_is_not_overwritten(capsys, base_args, tmp_path):
    out = tmp_path / "out"
    (out / "checkpoint-5").mkdir(parents=True)
    args = base_args + ["--train_file", corpus(tmp_path)]
    assert "holds checkpoints of an unfinished run (checkpoint-5)" in cli_error(capsys, args)
    (out / "final").mkdir()
    assert "already holds a finished encoder" in cli_error(capsys, args)
    # a bad input with --overwrite_output_dir still fails before anything of the earlier run is deleted
    cli_error(capsys, args + ["--overwrite_output_dir", "--temperature", "0"])
    cli_error(capsys, base_args + ["--train_file", tmp_path / "nope.txt", "--overwrite_output_dir"])
    assert (out / "checkpoint-5").is_dir() and (out / "final").is_dir()


# ---- nothing lost ----

@pytest.mark.slow
def test_a_crash_before_the_final_move_leaves_no_final_folder(base_args, tmp_path, monkeypatch):
    argv = [str(a) for a in base_args + ["--train_file", corpus(tmp_path), "--max_steps", 2, "--save_strategy", "no"]]

    def crash(src, dst):
        raise OSError("injected crash before the move")

    monkeypatch.setattr("mirror.atomic.replace_folder", crash)
    with pytest.raises(OSError, match="injected crash"):
        train(*parse_args(argv, "sentence"))
    out = tmp_path / "out"
    assert not (out / "final").exists()
    assert (out / "final.tmp" / "model.safetensors").exists()  # the incomplete copy keeps its .tmp name


# ---- determinism ----

def run_weights(base_args, tmp_path, name, seed, *flags):
    out = tmp_path / name
    argv = [str(a) for a in base_args + ["--train_file", corpus(tmp_path), "--max_steps", 4, "--save_strategy", "no",
                                         "--seed", seed, "--output_dir", out, *flags]]
    train(*parse_args(argv, "sentence"))
    return load_file(out / "final" / "model.safetensors")


def test_freeze_token_embeddings_leaves_the_table_as_loaded_and_trains_the_rest(base_args, tiny_bert, tmp_path):
    start = load_file(Path(tiny_bert) / "model.safetensors")
    table = next(k for k in start if k.endswith("word_embeddings.weight"))
    frozen = run_weights(base_args, tmp_path, "frozen", 3, "--freeze_token_embeddings", "true")
    trained = run_weights(base_args, tmp_path, "trained", 3)
    assert frozen.keys() == trained.keys() and table in frozen
    assert torch.equal(frozen[table], start[table]) and not torch.equal(trained[table], start[table])
    others = [k for k in frozen if k != table and "pooler" not in k]  # the pooler is frozen either way
    assert others and all(not torch.equal(frozen[k], start[k]) for k in others)
    saved = json.loads((tmp_path / "frozen" / "final" / "mirror_config.json").read_text())
    assert saved["model"]["freeze_token_embeddings"] is True


@pytest.mark.slow
def test_same_seed_same_encoder_other_seed_other_encoder(base_args, tmp_path):
    a = run_weights(base_args, tmp_path, "a", 3)
    b = run_weights(base_args, tmp_path, "b", 3)
    c = run_weights(base_args, tmp_path, "c", 4)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


# ---- kill and resume ----

def kill_run(kill_at, log, *flags):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONHASHSEED": "random"}
    return subprocess.run(
        [sys.executable, str(REPO / "tests" / "kill_run.py"), str(kill_at), str(log), *map(str, flags)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )


def loss_curve(path):
    return [(h["step"], h["loss"]) for h in json.loads(Path(path).read_text()) if "loss" in h]


def assert_same_run(whole, log, out):
    """The run that wrote `log` and `out`/final is the uninterrupted run `whole`: every step's loss, every weight."""
    a, b = loss_curve(whole["log"]), loss_curve(log)
    assert [s for s, _ in a] == list(range(1, 17)) and [s for s, _ in b] == list(range(1, 17))
    for (_, la), (_, lb) in zip(a, b):
        assert la == pytest.approx(lb, rel=1e-5, abs=1e-6)
    wa, wb = load_file(whole["out"] / "final" / "model.safetensors"), load_file(out / "final" / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


@pytest.fixture(scope="module")
def whole(tiny_bert, tmp_path_factory):
    """An uninterrupted 16-step run (checkpoints every 5 steps) that the killed and the signalled runs resume to."""
    base = tmp_path_factory.mktemp("whole")
    flags = ["--model_name_or_path", tiny_bert, "--pooling", "mean", "--train_file", corpus(base),
             "--per_device_train_batch_size", 8, "--num_train_epochs", 2, "--save_strategy", "steps",
             "--save_steps", 5, "--logging_steps", 1, "--learning_rate", 1e-4, "--seed", 11, "--disable_tqdm", "true"]
    run = kill_run(0, base / "whole.json", *flags, "--output_dir", base / "out")
    assert run.returncode == 0, run.stderr[-3000:]
    return {"flags": flags, "log": base / "whole.json", "out": base / "out"}


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_loss_curve_and_encoder(whole, tmp_path):
    flags = whole["flags"]
    out = tmp_path / "killed"
    killed = kill_run(7, tmp_path / "unused.json", *flags, "--output_dir", out)
    assert killed.returncode == 137
    assert not (out / "final").exists() and (out / "checkpoint-5").is_dir()  # nothing looks finished

    again = kill_run(0, tmp_path / "x.json", *flags, "--output_dir", out)
    assert again.returncode == 2 and "unfinished run (checkpoint-5)" in again.stderr  # no silent restart

    resumed = kill_run(0, tmp_path / "resumed.json", *flags, "--output_dir", out, "--resume_from_checkpoint", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(whole, tmp_path / "resumed.json", out)


# ---- preemption: SIGTERM / SIGINT save a checkpoint at the next step and exit with the resume command ----

@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_exits_143_and_the_printed_command_resumes_to_the_same_encoder(whole, tmp_path):
    flags = whole["flags"]
    out = tmp_path / "stopped"
    stopped, seconds = signalkit.run_and_signal(
        7, tmp_path / "markers", tmp_path / "resumed.json", [*flags, "--output_dir", out], signal.SIGTERM
    )
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert seconds < 90 and "Traceback" not in stopped.stderr
    assert f"SIGTERM: saved {out / 'checkpoint-7'} at step 7 and stopped (exit status 143)" in stopped.stderr
    # the signal's checkpoint, between the scheduled ones (5, 10), replaced checkpoint-5 (--save_total_limit 1)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["checkpoint-7"]  # no final/: nothing looks finished
    assert missing_parts(out / "checkpoint-7") == []
    assert json.loads((out / "checkpoint-7" / "trainer_state.json").read_text())["global_step"] == 7

    command = signalkit.printed_resume_command(stopped.stderr)
    assert command[:-2] == [sys.executable, str(signalkit.SCRIPT), "7", str(tmp_path / "markers"),
                            str(tmp_path / "resumed.json"), *map(str, flags), "--output_dir", str(out)]
    assert command[-2:] == ["--resume_from_checkpoint", "last"]
    resumed = subprocess.run(command, cwd=REPO, env=signalkit.ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(whole, tmp_path / "resumed.json", out)


# ---- a kill while a checkpoint was written: `last` is the newest complete checkpoint ----

@pytest.fixture(scope="module")
def real_run(tiny_bert, tmp_path_factory):
    """A finished 4-step run with checkpoint-2 and checkpoint-4 (complete), and the flags that made it."""
    base = tmp_path_factory.mktemp("real_run")
    out = base / "out"
    flags = ["--model_name_or_path", tiny_bert, "--pooling", "mean", "--train_file", corpus(base),
             "--per_device_train_batch_size", 8, "--logging_steps", 1, "--learning_rate", 1e-4, "--seed", 11,
             "--disable_tqdm", "true", "--max_steps", 4, "--save_strategy", "steps", "--save_steps", 2,
             "--save_total_limit", 3, "--output_dir", out]
    flags = [str(a) for a in flags]
    train(*parse_args(flags, "sentence"))
    return out, flags


def unfinished_copy(real_run, tmp_path):
    """A copy of the real run's checkpoints, without its final encoder: an unfinished run."""
    src, flags = real_run
    out = tmp_path / "out"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("final"))
    flags = [str(out) if a == str(src) else a for a in flags]
    return out, flags


@pytest.mark.slow
def test_last_passes_over_an_incomplete_checkpoint_and_resumes_from_the_complete_one(real_run, tmp_path, caplog):
    out, flags = unfinished_copy(real_run, tmp_path)
    (out / "checkpoint-4" / "trainer_state.json").unlink()  # killed before the Trainer wrote its last file
    with caplog.at_level("WARNING", logger="mirror"):
        result = train(*parse_args([*flags, "--resume_from_checkpoint", "last"], "sentence"))
    assert "passing over checkpoint-4 (incomplete, no trainer_state.json" in caplog.text
    assert (out / "incomplete" / "checkpoint-4").is_dir()  # set aside, not deleted
    assert [h["step"] for h in result["log_history"] if "loss" in h] == [1, 2, 3, 4]  # steps 3 and 4 trained again
    assert (out / "final" / "model.safetensors").is_file() and missing_parts(out / "checkpoint-4") == []
    real = load_file(real_run[0] / "final" / "model.safetensors")
    again = load_file(out / "final" / "model.safetensors")
    assert all(torch.allclose(real[k], again[k], atol=1e-6) for k in real)


@pytest.mark.slow
def test_rotation_cannot_keep_an_incomplete_checkpoint_instead_of_the_complete_one(real_run, tmp_path):
    out, flags = unfinished_copy(real_run, tmp_path)
    (out / "checkpoint-4" / "trainer_state.json").unlink()
    # what the Trainer's rotation does (by number when the mtimes are within a second): it keeps the newest name
    left_alone = tmp_path / "left_alone"
    shutil.copytree(out, left_alone)
    rotate_checkpoints(str(left_alone), save_total_limit=1, use_mtime=False)
    assert sorted(p.name for p in left_alone.glob("checkpoint-*")) == ["checkpoint-4"]  # only the incomplete one left
    # after `last` has passed over checkpoint-4, it is out of the rotation's sight
    assert resolve_checkpoint(parse_args([*flags, "--resume_from_checkpoint", "last"], "sentence")[2]) == str(out / "checkpoint-2")
    rotate_checkpoints(str(out), save_total_limit=1, use_mtime=False)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]


@pytest.mark.slow
def test_an_explicit_incomplete_checkpoint_is_a_one_line_error(real_run, tmp_path, capsys):
    out, flags = unfinished_copy(real_run, tmp_path)
    (out / "checkpoint-4" / "optimizer.pt").unlink()
    (out / "checkpoint-2" / "model.safetensors").unlink()
    err = cli_error(capsys, [*flags, "--resume_from_checkpoint", out / "checkpoint-4"])
    assert f"--resume_from_checkpoint {out / 'checkpoint-4'}: incomplete checkpoint, no optimizer state (optimizer.pt)" in err
    err = cli_error(capsys, [*flags, "--resume_from_checkpoint", out / "checkpoint-2"])
    assert "incomplete checkpoint, no model weights (model.safetensors)" in err
    # with --save_only_model a checkpoint needs no optimizer state
    only_model = parse_args([*flags, "--save_only_model", "true", "--resume_from_checkpoint", str(out / "checkpoint-4")], "sentence")
    assert resolve_checkpoint(only_model[2]) == str(out / "checkpoint-4")


@pytest.mark.slow
def test_last_with_only_incomplete_checkpoints_is_a_one_line_error(real_run, tmp_path, capsys):
    out, flags = unfinished_copy(real_run, tmp_path)
    for name in ("checkpoint-2", "checkpoint-4"):
        (out / name / "trainer_state.json").unlink()
    err = cli_error(capsys, [*flags, "--resume_from_checkpoint", "last"])
    assert err == (
        f"error: --resume_from_checkpoint last: no complete checkpoint in {out} (checkpoint-4 lacks "
        "trainer_state.json; checkpoint-2 lacks trainer_state.json); start over with --overwrite_output_dir"
    )
    assert (out / "checkpoint-4").is_dir()  # nothing moved when nothing can be resumed


@pytest.mark.slow
def test_resuming_with_another_freeze_token_embeddings_is_a_one_line_error(real_run, tmp_path, capsys):
    out, flags = unfinished_copy(real_run, tmp_path)
    err = cli_error(capsys, [*flags, "--resume_from_checkpoint", "last", "--freeze_token_embeddings", "true"])
    assert err == (
        f"error: --resume_from_checkpoint {out / 'checkpoint-4'}: it was trained with --freeze_token_embeddings "
        "false; resume it with the same setting, or start over with --overwrite_output_dir"
    )
    assert not (out / "final").exists()


# ---- the recipe scripts, as a user launches them (subprocess, offline) ----

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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_user_error_exits_2_with_one_line_and_no_traceback(tmp_path):
    proc = run_script("train_sentence.py", "--train_file", tmp_path / "nope.txt", "--output_dir", tmp_path / "o")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "nope.txt: no such file" in proc.stderr
    assert "Traceback" not in proc.stderr
    debug = run_script("train_sentence.py", "--train_file", tmp_path / "nope.txt", "--output_dir", tmp_path / "o", "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


# ---- positive pairs through the recipe ----

XLING_TRAIN = "{benchmarks}/bli_xling/en-de/yacle.train.freq.5k.en-de.tsv"


def test_a_missing_benchmark_train_file_names_the_download_command(capsys, base_args, tmp_path, monkeypatch):
    monkeypatch.setenv("MIRROR_BENCHMARK_DATA", str(tmp_path / "bench"))
    err = cli_error(capsys, base_args + ["--train_file", XLING_TRAIN, "--pair_columns", "0", "1"])
    expected = tmp_path / "bench" / "bli_xling" / "en-de" / "yacle.train.freq.5k.en-de.tsv"
    assert f"--train_file {expected}: no such file" in err
    assert 'python eval/download_benchmarks.py --tasks "BLI XLING"' in err


def test_train_file_expands_home_and_variables(monkeypatch, tmp_path):
    from mirror.recipe import expand_train_file

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CORPORA", "/data/corpora")
    assert expand_train_file("~/c.txt") == str(tmp_path / "c.txt")
    assert expand_train_file("$CORPORA/c.txt") == "/data/corpora/c.txt"
    (tmp_path / "b" / "x").mkdir(parents=True)
    (tmp_path / "b" / "x" / "c.tsv").write_text("a\tb\n", encoding="utf-8")
    monkeypatch.setenv("MIRROR_BENCHMARK_DATA", str(tmp_path / "b"))
    assert expand_train_file("{benchmarks}/x/c.tsv") == str(tmp_path / "b" / "x" / "c.tsv")
    with pytest.raises(mirror.DataError, match=r"no such file; .*\(see --list\)"):  # a folder no benchmark fills
        expand_train_file("{benchmarks}/x/other.tsv")


@pytest.mark.slow
def test_a_dictionary_trains_as_pairs_with_duplicates_counted(base_args, tmp_path, monkeypatch, caplog):
    words = list(dict.fromkeys(Path(REPO / "data" / "words" / "en.txt").read_text(encoding="utf-8").split()))[:40]
    lines = [f"{w}\t{w.upper()}" for w in words] + [f"{words[0]}\t{words[0].upper()}", f"{words[1]}\t{words[2].upper()}"]
    path = tmp_path / "bench" / "bli_xling" / "en-de" / "yacle.train.freq.5k.en-de.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("MIRROR_BENCHMARK_DATA", str(tmp_path / "bench"))
    argv = [str(a) for a in base_args + ["--train_file", XLING_TRAIN, "--pair_columns", "0", "1", "--max_steps", 2,
                                          "--save_strategy", "no"]]
    with caplog.at_level("INFO", logger="mirror"):
        result = train(*parse_args(argv, "word"))
    assert "read 42 pairs, dropped 0 with a blank side and 1 duplicate" in caplog.text and "41 pairs, global batch 8" in caplog.text
    cfg = json.loads((Path(result["encoder_dir"]) / "mirror_config.json").read_text())
    assert (cfg["corpus"]["read"], cfg["corpus"]["duplicates"], cfg["corpus"]["kept"]) == (42, 1, 41)
    assert cfg["corpus"]["sharing_a_string"] == 3  # words[1] on two pairs, words[2].upper() on two
    assert cfg["data"]["train_file"] == str(path) and cfg["data"]["pair_columns"] == ["0", "1"]
