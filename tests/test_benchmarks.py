"""The benchmark scripts run end to end in a tiny configuration, so they cannot rot (no timing is asserted).

In-process runs load a script with `benchmark_script` (conftest); subprocess runs start it the way a user does,
`python benchmarks/<name>.py` from the repository root, which is what makes its sibling `benchkit` importable.
"""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import benchmark_script

from mirror.errors import run_cli
from mirror.evaluation.datadir import ENV_VAR

REPO = Path(__file__).resolve().parents[1]
# PYTHONPATH: the `mirror` of this checkout, even where the installed (editable) one is another checkout's
PYTHONPATH = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": PYTHONPATH}
# SimLex-999's released layout (SimLex-999.txt), a few of its adjective pairs
SIMLEX = """word1	word2	POS	SimLex999	conc(w1)	conc(w2)	concQ	Assoc(USF)	SimAssoc333	SD(SimLex)
old	new	A	1.58	2.72	2.81	2	7.25	1	0.41
smart	intelligent	A	9.2	1.75	2.46	1	7.11	1	0.67
hard	difficult	A	8.77	3.76	2.21	2	5.94	1	1.19
happy	cheerful	A	9.55	2.56	2.34	1	5.85	1	2.18
hard	easy	A	0.95	3.76	2.07	2	5.82	1	0.93
fast	rapid	A	8.75	3.32	3.07	2	5.66	1	1.68
happy	glad	A	9.17	2.56	2.36	1	5.49	1	1.59
short	long	A	1.23	3.61	3.18	2	5.36	1	1.58
stupid	dumb	A	9.58	1.75	2.36	1	5.26	1	1.48
weird	strange	A	8.93	1.59	1.86	1	4.26	1	1.3
"""


def threads() -> str:
    """The scripts set torch's thread count; in process, give them the one this process already has."""
    return str(torch.get_num_threads())


def markdown_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("|") and "---" not in line][1:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


@pytest.mark.slow
def test_train_speed_tiny(tiny_bert, tmp_path, capsys):
    out = tmp_path / "speed.csv"
    benchmark_script("train_speed").main([
        "--model", str(tiny_bert), "--levels", "sentence", "encode", "--steps", "2", "--warmup", "1", "--rounds", "1",
        "--batch_size", "8", "--max_strings", "40", "--output_csv", str(out), "--in_process", "--threads", threads(),
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert "measured fp32 matmul peak" in printed and "mirror / peer" in printed
    table = pd.read_csv(out, index_col=[0, 1])
    train = table.loc["sentence"]
    assert list(train.index) == ["mirror", "peer", "mirror / peer"]
    assert (train.loc[["mirror", "peer"], "sequences/s"] > 0).all() and (train.loc[["mirror", "peer"], "timed steps"] == 2).all()
    ratio = train.loc["mirror", "sequences/s"] / train.loc["peer", "sequences/s"]
    assert abs(train.loc["mirror / peer", "sequences/s"] - ratio) < 1e-9
    enc = table.loc["encode"]
    assert (enc.loc[["mirror", "peer"], "sentences/s"] > 0).all()


@pytest.mark.slow
def test_quality_tiny(tiny_bert, tmp_path):
    """Two methods x two seeds on a tiny model and a small benchmark folder, found through $MIRROR_BENCHMARK_DATA
    (no --data_dir): the table has mean ± std rows."""
    data = tmp_path / "bench"
    data.mkdir()
    dev_lines = (REPO / "data" / "stsb" / "sts-dev.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (data / "sts-test.csv").write_text("".join(dev_lines[:60]), encoding="utf-8")
    (data / "SimLex-999.txt").write_text(SIMLEX, encoding="utf-8")
    out = tmp_path / "quality"
    proc = subprocess.run(
        [sys.executable, "benchmarks/quality.py", "--output_dir", str(out),
         "--model", str(tiny_bert), "--seeds", "1", "2", "--methods", "mirror_sentence", "peer_sentence",
         "--max_steps", "2", "--batch_size", "8", "--max_train_samples", "32", "--suites", "sts", "lexical"],
        cwd=REPO, env={**ENV, ENV_VAR: str(data)}, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"benchmarks under {data}\n" in proc.stdout  # the default folder
    summary = pd.read_csv(out / "quality_summary.csv", index_col=0)
    assert list(summary["n"]) == [1, 2, 2]  # the base model once, each method over two seeds
    assert summary.index[1] == "Mirror, sentence recipe" and summary.index[2].startswith("peer")
    runs = pd.read_csv(out / "quality_runs.csv", index_col=0)
    assert list(runs.columns) == ["STS-B", "sts avg", "SimLex-999", "lexical avg"]
    mirror_rows = runs[runs.index.str.contains("mirror_sentence")]
    assert len(mirror_rows) == 2
    for col in ("STS-B", "SimLex-999"):
        assert abs(summary.loc["Mirror, sentence recipe", f"{col} mean"] - mirror_rows[col].mean()) < 1e-9
        assert abs(summary.loc["Mirror, sentence recipe", f"{col} std"] - mirror_rows[col].std(ddof=1)) < 1e-9
    assert "±" in proc.stdout and "SimLex-999" in proc.stdout


def test_quality_without_benchmarks_names_the_download_command(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "not-downloaded"
    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(SystemExit) as exit_info:
        run_cli(benchmark_script("quality").main, ["--output_dir", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --data_dir {missing}: no such folder; fetch the benchmarks into it with `python eval/download_benchmarks.py`"
    ]
    assert not (tmp_path / "out").exists()  # nothing trained


def test_quality_drophead_trains_from_the_drophead_recipe(tmp_path):
    from mirror.recipe import parse_args

    quality = benchmark_script("quality")
    commands = []
    quality.train_mirror.__globals__["run"] = commands.append  # the script's own globals: record, do not train
    args = quality.parse(["--output_dir", str(tmp_path)])
    for method in ("mirror_sentence", "mirror_sentence_drophead"):
        quality.train_mirror(args, method, 1, tmp_path / method)
    configs = [cmd[cmd.index("--config") + 1] for cmd in commands]
    assert configs == ["recipes/configs/sentence_minilm.yaml", "recipes/configs/sentence_minilm_drophead.yaml"]
    model_args = parse_args(["--config", str(REPO / configs[1]), "--output_dir", str(tmp_path)], "sentence")[0]
    assert (model_args.drophead, model_args.dropout) == (0.2, 0.0)


@pytest.mark.slow
def test_chunking_tiny(tiny_bert, monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # the default --train_file is relative to the repository root
    benchmark_script("chunking").main([
        "--model", str(tiny_bert), "--batch_size", "16", "--batches", "2", "--repeats", "1", "--costs", "0", "1",
        "100000", "--threads", threads(),
    ])  # fmt: skip
    rows = markdown_rows(capsys.readouterr().out)
    assert len(rows) == 3
    padded = [float(r[2]) for r in rows]
    chunks = [float(r[4]) for r in rows]
    assert chunks[0] == 1 and chunks[1] > 1 and chunks[2] == 1  # one forward; about one chunk per length; one chunk
    assert padded[1] < padded[0] and padded[2] == padded[0]  # cheap chunks drop padding; one chunk keeps it all


@pytest.mark.slow
def test_profile_step_tiny(tiny_bert, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    benchmark_script("profile_step").main(
        ["--model", str(tiny_bert), "--batch_size", "8", "--max_length", "16", "--top", "3", "--threads", threads()]
    )
    printed = capsys.readouterr().out
    headings = [line for line in printed.splitlines() if line.startswith("## ")]
    assert [h.split(":")[0] for h in headings] == ["## mirror", "## peer (sentence-transformers MNRL)"]
    assert printed.count("collate ") == 2 and printed.count("% padding)") == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["train_speed", "profile_step", "quality", "chunking"])
def test_scripts_start_from_a_plain_command_line(name):
    """`python benchmarks/<name>.py` finds its sibling benchkit with no path set up (PYTHONPATH only picks this
    checkout's `mirror`)."""
    proc = subprocess.run(
        [sys.executable, f"benchmarks/{name}.py", "--help"], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith(f"usage: {name}.py")


def test_quality_pairs_method_trains_its_recipe_on_the_dictionary_under_data_dir(tmp_path):
    quality = benchmark_script("quality")  # a fresh copy of the script's globals: patching them is local to this test
    commands = []
    quality.train_mirror.__globals__["run"] = commands.append
    args = quality.parse(["--data_dir", str(tmp_path), "--methods", "mirror_word_en-de_pairs"])
    for method in ("mirror_word", "mirror_word_en-de_pairs"):
        quality.train_mirror(args, method, 1, tmp_path / method)
    plain, pairs = commands
    assert plain[plain.index("--config") + 1] == "recipes/configs/word_minilm.yaml"
    assert pairs[pairs.index("--config") + 1] == "recipes/configs/word_minilm_en-de_pairs.yaml"
    assert pairs[pairs.index("--train_file") + 1] == str(tmp_path / "bli_xling" / "en-de" / "yacle.train.freq.5k.en-de.tsv")
    assert "yacle.test" not in " ".join(pairs)  # never the test dictionary


def test_gradcache_tiny(tiny_bert, capsys):
    """Both steps in process on a tiny model (no memory limit there); an OOM probe is a row that says so."""
    script = benchmark_script("gradcache")
    script.main([
        "--model", str(tiny_bert), "--batch_sizes", "8", "--mini_batch_size", "5", "--in_process", "--threads", threads(),
    ])  # fmt: skip
    rows = markdown_rows(capsys.readouterr().out)
    assert len(rows) == 2 and [r[2] for r in rows] == ["uncached", "cached, mini-batch 5 rows"]
    assert all(float(r[3]) > 0 and float(r[4]) > 0 for r in rows)
    assert abs(float(rows[0][5]) - float(rows[1][5])) < 0.05  # the same objective (dropout differs: not equal)
    args = script.parse(["--mini_batch_size", "5"])
    oom = script.table([{"mode": "uncached", "batch": 4000, "oom": True, "peak_rss_mb": 8000.0}], args)
    assert list(oom.iloc[0][["s/step", "peak RSS GB"]]) == ["OOM", "7.81 (at OOM)"]
    assert script.is_oom(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert not script.is_oom(RuntimeError("shape mismatch"))
