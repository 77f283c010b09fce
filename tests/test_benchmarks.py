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


def rows_of(table: pd.DataFrame, level: str, precision: str) -> pd.DataFrame:
    """The (impl x column) table of one level and precision, in the CSV's row order."""
    keep = (table.index.get_level_values(0) == level) & (table.index.get_level_values(1) == precision)
    return table[keep].droplevel([0, 1])


@pytest.mark.slow
def test_train_speed_tiny(tiny_bert, tmp_path, capsys):
    out = tmp_path / "speed.csv"
    fast = benchmark_script("train_speed").fast_precisions()
    summary = benchmark_script("train_speed").main([
        "--model", str(tiny_bert), "--levels", "sentence", "encode", "--steps", "2", "--warmup", "1", "--rounds", "1",
        "--batch_size", "8", "--max_strings", "40", "--output_csv", str(out), "--in_process", "--threads", threads(),
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert "measured fp32 matmul peak" in printed and "mirror / peer" in printed
    table = pd.read_csv(out, index_col=[0, 1, 2])
    for precision in fast:  # default: every fast precision of this machine, each its own table
        train = rows_of(table, "sentence", precision)
        assert list(train.index) == ["mirror", "peer", "mirror / peer"]
        assert (train.loc[["mirror", "peer"], "sequences/s"] > 0).all() and (train.loc[["mirror", "peer"], "timed steps"] == 2).all()
        ratio = train.loc["mirror", "sequences/s"] / train.loc["peer", "sequences/s"]
        assert abs(train.loc["mirror / peer", "sequences/s"] - ratio) < 1e-9
        ratio = train.loc["mirror", "sequences/s (all steps)"] / train.loc["peer", "sequences/s (all steps)"]
        assert abs(train.loc["mirror / peer", "sequences/s (all steps)"] - ratio) < 1e-9
        assert (train.loc[["mirror", "peer"], "% of matmul peak"] > 0).all()
        enc = rows_of(table, "encode", precision)
        assert (enc.loc[["mirror", "peer"], "sentences/s"] > 0).all()
        assert f"measured {precision} matmul peak" in printed
    assert [tuple(r) for r in summary[["level", "precision"]].values] == [(lv, p) for lv in ("sentence", "encode") for p in fast]
    assert (summary["mirror / peer"] > 0).all()


def test_train_speed_times_mirror_with_its_table_frozen_on_request(tiny_bert, tmp_path, monkeypatch, capsys):
    script = benchmark_script("train_speed")
    benchkit = script.matmul_peaks.__globals__
    level = {"temperature": 0.04, "max_length": 32, "span_mask_len": 5}
    for frozen in (False, True):
        trainer, model = benchkit["mirror_trainer"](str(tiny_bert), ["a b c"] * 8, str(tmp_path / "o"), 4, level, 1,
                                                    freeze_token_embeddings=frozen)  # fmt: skip
        assert model.get_input_embeddings().weight.requires_grad is not frozen
        assert all(p.requires_grad for n, p in model.named_parameters() if "word_embeddings" not in n and "pooler" not in n)
    asked = []  # what the worker asks of benchkit.mirror_trainer

    def recording(*a, **kw):
        asked.append(kw.get("freeze_token_embeddings"))
        return benchkit["mirror_trainer"](*a, **kw)

    monkeypatch.setitem(script.train_worker.__globals__, "mirror_trainer", recording)
    script.main([
        "--model", str(tiny_bert), "--levels", "sentence", "--precision", "fp32", "--steps", "1", "--warmup", "1",
        "--rounds", "1", "--batch_size", "8", "--max_strings", "40", "--in_process", "--threads", threads(),
        "--freeze_token_embeddings",
    ])  # fmt: skip
    assert asked == [True]  # mirror's one worker trained with the table frozen
    assert "mirror with its token-embedding table frozen (--freeze_token_embeddings)" in capsys.readouterr().out


def test_train_speed_rounds_draw_other_batches_and_both_contenders_the_same_ones(tiny_bert, tmp_path, monkeypatch):
    script = benchmark_script("train_speed")
    benchkit = script.matmul_peaks.__globals__
    level = {"temperature": 0.04, "max_length": 32, "span_mask_len": 0}
    texts = [f"string number {i}" for i in range(40)]

    def first_batch(trainer):  # the strings of the epoch's first batch, as each trainer's own dataloader draws them
        batch = next(iter(trainer.get_train_dataloader()))
        ids = batch["input_ids"] if "input_ids" in batch else batch["anchor_input_ids"]
        return sorted(trainer.processing_class.batch_decode(ids, skip_special_tokens=True))

    from mirror.hub import resolve_model_path

    for seed_pair in ((0, 0), (0, 1)):
        mirror_first = [first_batch(benchkit["mirror_trainer"](str(tiny_bert), texts, str(tmp_path / "m"), 8, level, 1, seed=s)[0])
                        for s in seed_pair]  # fmt: skip
        peer_first = [first_batch(benchkit["peer_trainer"](benchkit["peer_model"](resolve_model_path(str(tiny_bert)), 32),
                                                           texts, str(tmp_path / "p"), 8, max_steps=1, seed=s))
                      for s in seed_pair]  # fmt: skip
        same = seed_pair[0] == seed_pair[1]
        assert (mirror_first[0] == mirror_first[1]) is same and (peer_first[0] == peer_first[1]) is same
        # with one seed both contenders train on the same strings (mirror's rows: each string and its unmasked copy)
        assert [set(m) == set(p) for m, p in zip(mirror_first, peer_first)] == [True, True]
    asked = []  # the seed each worker trains with, in the order the rounds run them

    def recording(impl, level, precision, args):
        asked.append((impl, args.seed))
        return {"impl": impl, "level": level, "precision": precision, "step_times": [1.0], "tokens": [10],
                "rows_per_step": 16, "params_nonemb": 1, "peak_rss_mb": 1.0, "train_rss_growth_mb": 1.0}

    monkeypatch.setitem(script.main.__globals__, "train_worker", recording)
    script.main(["--model", str(tiny_bert), "--levels", "word", "--precision", "fp32", "--rounds", "3", "--seed", "5",
                 "--in_process", "--threads", threads()])  # fmt: skip
    assert asked == [("mirror", 5), ("peer", 5), ("peer", 6), ("mirror", 6), ("mirror", 7), ("peer", 7)]


def test_train_speed_reports_throughput_from_the_median_step_and_over_all_steps():
    script = benchmark_script("train_speed")

    def result(impl, step_times):
        return {"impl": impl, "step_times": step_times, "tokens": [100] * len(step_times), "rows_per_step": 400,
                "params_nonemb": 1000, "peak_rss_mb": 1.0, "train_rss_growth_mb": 1.0}

    # the peer's third step is slow (a long batch): the median ignores it, the total time does not
    rows = script.summarize_train([result("mirror", [1.0, 1.0, 1.0]), result("peer", [2.0, 2.0, 8.0])], peak=1.0)
    df = script.with_ratio(rows, ["sequences/s", "sequences/s (all steps)"])
    assert df.loc["peer", "sequences/s"] == 200 and df.loc["peer", "sequences/s (all steps)"] == 100
    assert df.loc["mirror / peer", "sequences/s"] == 2 and df.loc["mirror / peer", "sequences/s (all steps)"] == 4
    summary = script.precision_summary({("sentence", "fp32"): df})
    assert summary.loc[0, "mirror / peer"] == 2 and summary.loc[0, "mirror / peer, all steps"] == 4
    passes = {"sentences": 10, "tokens": 50, "params_nonemb": 1, "peak_rss_mb": 1.0, "encode_rss_growth_mb": 1.0}
    encode = script.summarize_encode([{"impl": "mirror", "times": [1.0, 3.0, 1.0], **passes},
                                      {"impl": "peer", "times": [2.0], **passes}], peak=1.0)
    assert encode[0]["sentences/s"] == 10 and encode[0]["sentences/s (all passes)"] == 6


def test_train_speed_without_fast_bf16_reports_fp32_only(monkeypatch, capsys):
    import mirror.config

    script = benchmark_script("train_speed")
    monkeypatch.setattr(mirror.config, "cpu_has_fast_bf16", lambda: False)
    assert script.precisions_to_run(script.parse([])) == ["fp32"]
    assert "has no fast bf16" in capsys.readouterr().out
    assert script.precisions_to_run(script.parse(["--precision", "fp32", "bf16"])) == ["fp32"]
    assert "--precision bf16 skipped" in capsys.readouterr().out
    monkeypatch.setattr(mirror.config, "cpu_has_fast_bf16", lambda: True)
    assert script.precisions_to_run(script.parse([])) == ["fp32", "bf16"]


def test_matmul_peaks_per_precision_refuse_slow_bf16(monkeypatch):
    """The peak probe measures each precision the machine has fast on the encoder's shapes, and refuses bf16
    where the CPU has no AVX512-BF16/AMX."""
    import mirror.config
    from transformers import BertConfig

    benchkit = benchmark_script("train_speed").matmul_peaks.__globals__  # benchkit's own globals
    shapes = benchkit["encoder_gemm_shapes"](BertConfig(hidden_size=64, intermediate_size=256), rows=128)
    assert shapes == [(128, 64, 64), (128, 64, 256), (128, 256, 64)]
    fast = benchkit["fast_precisions"]()
    peaks = benchkit["matmul_peaks"](fast, shapes, repeats=2, seconds=0.01)
    assert list(peaks) == fast
    for peak in peaks.values():
        assert peak["gflops"] > 0 and peak["gflops"] == max(peak["shapes"].values()) and list(peak["shapes"]) == shapes
    monkeypatch.setattr(mirror.config, "cpu_has_fast_bf16", lambda: False)
    assert benchkit["fast_precisions"]() == ["fp32"]
    with pytest.raises(ValueError, match="no fast bf16"):
        benchkit["matmul_peaks"](["fp32", "bf16"], shapes, repeats=1, seconds=0.01)
    assert list(benchkit["matmul_peaks"](["fp32"], shapes, repeats=1, seconds=0.01)) == ["fp32"]


def test_fit_exponent_recovers_synthetic_slopes():
    fit = benchmark_script("cost_sweep").fit_exponent
    sizes = [100, 200, 400, 800]
    assert abs(fit(sizes, [3.0 * s**1.5 for s in sizes]) - 1.5) < 1e-9
    assert abs(fit(sizes, [0.2 * s for s in sizes]) - 1.0) < 1e-9
    assert abs(fit([2500, 5000, 10000], [7.0, 7.0, 7.0])) < 1e-9


def test_cost_sweep_tables_and_slopes_from_probe_results():
    """The tables of the sweep from synthetic probe results: OOM rows stay in the table and out of the fits."""
    script = benchmark_script("cost_sweep")
    results = [
        {"impl": impl, "batch": b, "corpus": None, "strings": 9000, "epoch_steps": 9000 // b,
         "step_times": [k * b**1.2, k * b**1.2], "peak_rss_mb": 1000.0 + b}
        for b in (100, 200, 400) for impl, k in (("mirror", 0.01), ("peer", 0.03))
    ] + [{"impl": "mirror", "batch": 800, "corpus": None, "strings": 9000, "epoch_steps": 11,
          "step_times": [0.01 * 800**1.2], "peak_rss_mb": 1800.0},
         {"impl": "peer", "batch": 800, "corpus": None, "oom": True, "peak_rss_mb": 16000.0}]  # fmt: skip
    corpus = [
        {"impl": impl, "batch": 200, "corpus": n, "strings": n, "epoch_steps": n // 200, "step_times": [k], "peak_rss_mb": 1.0}
        for n in (2500, 5000, 10000) for impl, k in (("mirror", 4.0), ("peer", 12.0))
    ]  # fmt: skip
    batch = script.batch_table(results)
    assert list(batch["batch (strings)"]) == [100, 200, 400, 800] and list(batch["rows"]) == [200, 400, 800, 1600]
    assert list(batch.columns) == ["batch (strings)", "rows", "mirror s/step", "mirror peak RSS GB", "peer s/step", "peer peak RSS GB"]
    assert batch["peer s/step"].iloc[-1] == "OOM"
    shown = script.markdown(batch)
    assert "| OOM " in shown and f"{0.03 * 200**1.2:.3g}" in shown and f"{0.03 * 200**1.2!r}" not in shown  # 3 digits beside OOM
    epochs = script.corpus_table(corpus, 200)
    assert list(epochs["steps/epoch"]) == [12, 25, 50]
    assert list(epochs["mirror s/epoch (est.)"]) == [48.0, 100.0, 200.0]
    fits = script.slopes(batch, epochs, ["mirror", "peer"]).set_index("contender")
    assert abs(fits.loc["mirror", "s/step vs batch"] - 1.2) < 1e-9 and abs(fits.loc["peer", "s/step vs batch"] - 1.2) < 1e-9
    assert 0 < fits.loc["mirror", "peak RSS vs batch"] < 1
    epoch_slope = script.fit_exponent([2500, 5000, 10000], [48.0, 100.0, 200.0])
    assert abs(fits.loc["peer", "s/epoch vs corpus"] - epoch_slope) < 1e-9 and 1 < epoch_slope < 1.1


@pytest.mark.slow
def test_cost_sweep_tiny(tiny_bert, capsys):
    batch, epochs, fits = benchmark_script("cost_sweep").main([
        "--model", str(tiny_bert), "--batch_sizes", "4", "8", "--corpus_sizes", "40", "80", "--corpus_batch_size", "4",
        "--steps", "1", "--warmup", "1", "--in_process", "--threads", threads(),
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert "ESTIMATED" in printed and "measured exponents" in printed
    for impl in ("mirror", "peer"):
        assert (batch[f"{impl} s/step"].astype(float) > 0).all() and (batch[f"{impl} peak RSS GB"] > 0).all()
        assert (epochs[f"{impl} s/epoch (est.)"] > 0).all()
    assert list(epochs["steps/epoch"]) == [10, 20]
    assert len(fits) == 2 and fits[["s/step vs batch", "s/epoch vs corpus"]].notna().all().all()


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
    script = benchmark_script("profile_step")
    table = script.main(
        ["--model", str(tiny_bert), "--batch_size", "8", "--max_length", "16", "--top", "3", "--threads", threads()]
    )
    printed = capsys.readouterr().out
    headings = [line for line in printed.splitlines() if line.startswith("## ")]
    assert [h.split(":")[0] for h in headings[:2]] == ["## mirror", "## peer (sentence-transformers MNRL)"]
    phases = [line for line in printed.splitlines() if line.startswith("  collate ")]  # not the operator table's "phase: collate"
    assert len(phases) == 2 and printed.count("% padding)") == 2
    assert "measured fp32 matmul peak" in printed and "% of its roofline" in printed
    assert list(table.index) == script.ROWS and list(table.columns) == ["mirror s/step", "peer s/step", "roofline s/step"]
    for col in ("mirror s/step", "peer s/step"):
        assert (table.loc[["tokenization + collation", "linear layers (GEMMs)", "attention", "optimizer step (AdamW)", "total"], col] > 0).all()
        parts = table[col].drop("total").sum()
        assert abs(parts - table.loc["total", col]) < 1e-9  # every profiled second in exactly one category
    bound = table["roofline s/step"]
    assert bound["linear layers (GEMMs)"] > 0 and bound["attention"] > 0
    assert abs(bound["total"] - bound["linear layers (GEMMs)"] - bound["attention"]) < 1e-12
    assert bound.drop(["linear layers (GEMMs)", "attention", "total"]).isna().all()


def test_profile_step_refuses_bf16_without_fast_bf16(monkeypatch):
    import mirror.config

    monkeypatch.setattr(mirror.config, "cpu_has_fast_bf16", lambda: False)
    with pytest.raises(SystemExit, match="no fast bf16"):
        benchmark_script("profile_step").main(["--precision", "bf16"])


def test_roofline_counts_the_encoder_flops():
    from transformers import BertConfig

    script = benchmark_script("profile_step")
    config = BertConfig(hidden_size=4, intermediate_size=8, num_hidden_layers=2)
    # per token and layer: 4 x (4 x 4) + 2 x (4 x 8) = 128 multiply-adds; x 2 FLOPs, x 2 layers
    assert script.encoder_gemm_flops(config, 10) == 10 * 2 * 2 * 128
    assert script.attention_flops(config, [3, 5]) == 2 * 2 * 4 * 2 * (9 + 25)
    bound = script.roofline(config, [3, 5], peak_gflops=1e-6)  # 1 kFLOP/s
    assert abs(bound["linear layers (GEMMs)"] - 3 * 8 * 512 / 1e3) < 1e-9 and bound["total"] > bound["attention"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["train_speed", "profile_step", "quality", "chunking", "cost_sweep"])
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
    """Both steps in process on a tiny model (no memory limit there); an OOM probe is a row that says so. Without
    dropout both steps see the same encoder, so the reported losses agree to float rounding."""
    script = benchmark_script("gradcache")
    script.main([
        "--model", str(tiny_bert), "--batch_sizes", "8", "--mini_batch_size", "5", "--in_process", "--threads", threads(),
        "--dropout", "0",
    ])  # fmt: skip
    rows = markdown_rows(capsys.readouterr().out)
    assert len(rows) == 2 and [r[2] for r in rows] == ["uncached", "cached, mini-batch 5 rows"]
    assert all(float(r[3]) > 0 and float(r[4]) > 0 for r in rows)
    assert abs(float(rows[0][5]) - float(rows[1][5])) <= 2e-4  # the same objective (printed to 4 decimals)
    args = script.parse(["--mini_batch_size", "5"])
    oom = script.table([{"mode": "uncached", "batch": 4000, "oom": True, "peak_rss_mb": 8000.0}], args)
    assert list(oom.iloc[0][["s/step", "peak RSS GB"]]) == ["OOM", "7.81 (at OOM)"]
    assert script.is_oom(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert not script.is_oom(RuntimeError("shape mismatch"))


def test_quality_variants_train_with_their_flag_and_report_the_difference(tmp_path):
    quality = benchmark_script("quality")
    commands = []
    quality.train_mirror.__globals__["run"] = commands.append
    args = quality.parse(["--output_dir", str(tmp_path)])
    for method in ("mirror_sentence", "mirror_sentence_bf16", "mirror_word_bf16", "mirror_word_torch_dropout", "mirror_sentence_padded",
                   "mirror_sentence_frozen_table"):
        quality.train_mirror(args, method, 1, tmp_path / method)
    plain, sentence_bf16, word_bf16, word_torch, padded, sentence_frozen = commands
    assert "--freeze_token_embeddings" not in plain
    assert sentence_frozen[sentence_frozen.index("--freeze_token_embeddings") + 1] == "true"
    assert sentence_frozen[sentence_frozen.index("--config") + 1] == "recipes/configs/sentence_minilm.yaml"
    assert "--bf16" not in plain and "--fast_dropout" not in plain  # the recipe's defaults: fp32, fast dropout, packed
    assert "--packed_forward" not in plain and padded[padded.index("--packed_forward") + 1] == "false"
    assert word_torch[word_torch.index("--fast_dropout") + 1] == "false" and "--bf16" not in word_torch
    assert word_torch[word_torch.index("--config") + 1] == "recipes/configs/word_minilm.yaml"
    assert sentence_bf16[sentence_bf16.index("--bf16") + 1] == "true" and word_bf16[word_bf16.index("--bf16") + 1] == "true"
    assert sentence_bf16[sentence_bf16.index("--config") + 1] == "recipes/configs/sentence_minilm.yaml"
    assert word_bf16[word_bf16.index("--config") + 1] == "recipes/configs/word_minilm.yaml"
    summary = pd.DataFrame(
        {"n": [2, 2], "STS-B mean": [80.0, 79.5], "STS-B std": [0.3, 0.4], "sts avg mean": [77.0, 77.25], "sts avg std": [0.1, 0.2]},
        index=["Mirror, sentence recipe", "Mirror, sentence recipe, bf16"],
    )  # fmt: skip
    diff = quality.variant_differences(summary, ["mirror_sentence", "mirror_sentence_bf16"])
    assert list(diff.columns) == ["STS-B", "sts avg"]
    assert list(diff.loc["Mirror, sentence recipe, bf16: difference (bf16 - fp32)"]) == [-0.5, 0.25]
    assert list(diff.loc["Mirror, sentence recipe, bf16: seed std, fp32"]) == [0.3, 0.1]
    assert list(diff.loc["Mirror, sentence recipe, bf16: seed std, bf16"]) == [0.4, 0.2]
    assert quality.variant_differences(summary, ["mirror_sentence"]).empty  # no pair: no table


@pytest.mark.slow
def test_quality_bf16_tiny_in_process(tiny_bert, tmp_path, monkeypatch, capsys):
    """mirror_sentence and mirror_sentence_bf16, one seed, tiny model: the bf16 difference table is printed and
    saved (on a CPU without fast bf16 the recipe trains both in fp32: the table is still there)."""
    monkeypatch.chdir(REPO)
    data = tmp_path / "bench"
    data.mkdir()
    dev_lines = (REPO / "data" / "stsb" / "sts-dev.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (data / "sts-test.csv").write_text("".join(dev_lines[:60]), encoding="utf-8")
    out = tmp_path / "quality"
    benchmark_script("quality").main([
        "--data_dir", str(data), "--output_dir", str(out), "--model", str(tiny_bert), "--seeds", "1",
        "--methods", "mirror_sentence", "mirror_sentence_bf16", "--max_steps", "2", "--batch_size", "8",
        "--max_train_samples", "32", "--suites", "sts",
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert "variants against the method they vary" in printed and "difference (bf16 - fp32)" in printed
    diff = pd.read_csv(out / "quality_differences.csv", index_col=0)
    assert list(diff.index) == [f"Mirror, sentence recipe, bf16: {k}" for k in ("difference (bf16 - fp32)", "seed std, fp32", "seed std, bf16")]
    assert list(diff.columns) == ["STS-B", "sts avg"]
    summary = pd.read_csv(out / "quality_summary.csv", index_col=0)
    expected = summary.loc["Mirror, sentence recipe, bf16", "STS-B mean"] - summary.loc["Mirror, sentence recipe", "STS-B mean"]
    assert abs(diff.loc["Mirror, sentence recipe, bf16: difference (bf16 - fp32)", "STS-B"] - expected) < 1e-9


BOUND_NAMES = ["peer (MNRL, its two forwards)", "mirror (default)", "mirror, embedding table frozen"]


def run_bound(tiny_bert, monkeypatch, capsys, batches: int):
    """`ab_step.py bound` on the tiny model, word level, one step per batch, 2 passes: (its result, what it printed)."""
    import argparse

    monkeypatch.chdir(REPO)
    args = argparse.Namespace(model=str(tiny_bert), level="word", precision="fp32", steps=1, repeats=2, threads=int(threads()),
                              batches=batches)  # fmt: skip
    result = benchmark_script("ab_step").bench_bound(args)
    return result, capsys.readouterr().out


def test_ab_step_bound_times_the_peer_mirror_and_mirror_with_a_frozen_table(tiny_bert, monkeypatch, capsys):
    medians, printed = run_bound(tiny_bert, monkeypatch, capsys, batches=1)
    names = BOUND_NAMES
    assert list(medians) == names and all(v > 0 for v in medians.values())
    for name in names[1:]:
        assert f"{name}: {medians[names[0]] / medians[name]:.2f} x the peer's sequences/s" in printed
    assert f"2 x the peer needs mirror at <= {medians[names[0]] / 2:.4f} s/step" in printed
    assert printed.count("wall median") == 3


def test_ab_step_bound_over_several_batches_reports_each_batchs_ratio(tiny_bert, monkeypatch, capsys):
    result, printed = run_bound(tiny_bert, monkeypatch, capsys, batches=3)
    table = result.pop("per_batch")
    names = BOUND_NAMES
    assert list(result) == names and "3 batch(es)" in printed
    assert list(table["batch"]) == [0, 1, 2] and table["real tokens"].nunique() > 1  # three different batches
    assert (table["peer's padded width"] * 200 >= table["real tokens"] / 2).all()  # the peer pads to the longest
    for name in names[1:]:
        assert (abs(table[f"{name}: x peer"] - table["peer s/step"] / table[f"{name} s/step"]) < 1e-9).all()
        assert f"{name}: x peer across batches median {table[f'{name}: x peer'].median():.2f}" in printed


def test_profile_step_frozen_table_takes_no_gradient_and_no_update(tiny_bert):
    script = benchmark_script("profile_step")
    args = script.parse(["--model", str(tiny_bert), "--max_length", "16"])
    texts = ["a small test", "another string", "third one here", "and a fourth"]
    for freeze in (False, True):
        torch.manual_seed(0)
        step, _ = script.mirror_setup(args, texts, freeze_table=freeze)
        weight = step.model.get_input_embeddings().weight
        params = [p for g in step.optimizer.param_groups for p in g["params"]]
        before = weight.detach().clone()
        step()
        assert any(p is weight for p in params) is not freeze
        assert torch.equal(weight, before) is freeze


def test_ab_step_qkv_times_three_products_against_one_and_checks_they_agree(tiny_bert, capsys):
    script = benchmark_script("ab_step")
    import argparse

    from transformers import AutoConfig

    from mirror.packing import max_packed_tokens

    args = argparse.Namespace(model=str(tiny_bert), precision="fp32", steps=1, repeats=2)
    results = script.bench_qkv(args)
    assert list(results) == [1260, max_packed_tokens(AutoConfig.from_pretrained(tiny_bert))]
    assert all(three > 0 and fused > 0 for three, fused in results.values())
    assert capsys.readouterr().out.count("one fused product") == 2 * 2 + 2  # each repeat's line, then the report's


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_ab_step_compile_regional_compiles_each_layers_token_wise_blocks_and_keeps_the_packed_forward(
    tiny_bert, monkeypatch, capsys, precision
):
    """--regional compiles each layer's attention output, intermediate and output blocks (dynamic=True), not the
    model, so the packed forward still runs; inductor is left out (it takes seconds even on the tiny model): the
    compile calls are recorded and the blocks run eagerly."""
    import argparse

    from mirror import load_encoder
    from mirror.packing import packing_reason

    calls = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: calls.append((type(fn.__self__).__name__, kwargs)) or fn)
    script = benchmark_script("ab_step")
    args = argparse.Namespace(model=str(tiny_bert), level="word", steps=1, repeats=2, precision=precision, regional=True)
    medians = script.bench_compile(args)
    layers = 2  # the tiny model's
    assert calls == [(name, {"dynamic": True}) for name in ("BertSelfOutput", "BertIntermediate", "BertOutput")] * layers
    assert list(medians) == ["eager (default)", "token-wise blocks compiled"] and min(medians.values()) > 0
    assert f"steady state over 1 word batches, {precision}" in capsys.readouterr().out
    model = load_encoder(str(tiny_bert), pooling="mean").model
    assert script.compile_token_wise(model) == 3 * layers and packing_reason(model) is None


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_ab_step_encode_times_each_variant_against_the_peer(tiny_bert, monkeypatch, capsys, precision):
    import argparse

    monkeypatch.chdir(REPO)
    args = argparse.Namespace(model=str(tiny_bert), precision=precision, repeats=2, threads=int(threads()),
                              max_strings=24, compile=False)  # fmt: skip
    medians = benchmark_script("ab_step").bench_encode(args)
    printed = capsys.readouterr().out
    expected = {f"SentenceTransformer.encode, {precision}", "mirror.encode, fp32 (batch 64, sorted)",
                "mirror.encode, fp32, transformers' sdpa", "training's chunks (400 rows, cost 256), fp32"}  # fmt: skip
    if precision == "bf16":
        expected |= {"SentenceTransformer.encode, fp32", "SentenceTransformer.encode, bf16 weights",
                     "mirror.encode, precision bf16", "mirror.encode, precision bf16, transformers' sdpa",
                     "mirror.encode, bf16 weights", "mirror.encode, precision bf16, softmax in fp32 (before row e5)"}  # fmt: skip
    assert set(medians) == expected and all(v > 0 for v in medians.values())
    assert "encoding 24 STS-B dev sentences" in printed and printed.count("wall median") == len(expected)


def test_ab_step_encode_compile_times_the_compiled_encoder(tiny_bert, monkeypatch, capsys):
    """--compile adds mirror.encode through torch.compile(model, dynamic=True); inductor itself is left out (it takes
    ~15 s to compile even the tiny model), so the model is compiled by recording the call."""
    import argparse

    calls = []
    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: calls.append((type(model).__name__, kwargs)) or model)
    monkeypatch.chdir(REPO)
    args = argparse.Namespace(model=str(tiny_bert), precision="fp32", repeats=2, threads=int(threads()), max_strings=24,
                              compile=True)  # fmt: skip
    medians = benchmark_script("ab_step").bench_encode(args)
    assert calls == [("BertModel", {"dynamic": True})]
    assert medians["mirror.encode, fp32, torch.compile"] > 0
    assert "torch.compile: the first batch took" in capsys.readouterr().out


def test_ab_step_with_fp32_softmax_runs_the_former_attention_and_puts_the_current_one_back():
    import mirror.fast_dropout as fd

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 6, 8).to(torch.bfloat16) for _ in range(3))
    keys = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    keys[1, ..., 3:] = False
    current = fd._attention
    with torch.no_grad():
        former = benchmark_script("ab_step").with_fp32_softmax(lambda: fd._attention(q, k, v, keys, 0.35, 0.0)[0])
        additive = torch.zeros(keys.shape).masked_fill_(~keys, torch.finfo(torch.float32).min)
        scores = q @ k.transpose(2, 3) * 0.35 + additive
        expected = (torch.softmax(scores, dim=-1, dtype=torch.float32).to(v.dtype) @ v).transpose(1, 2)
    assert fd._attention is current and torch.equal(former, expected)
