"""Summarise runs that differ only in their seed: mean ± std per benchmark, as one pandas table.

From the evaluation suite's results CSVs (first column `model`, one numeric column per benchmark plus the average;
one file per seed, or one file with a row per seed encoder):
    python recipes/summarize_seeds.py outputs/sentence_minilm_seeds/seed*/results.csv \
        --output outputs/sentence_minilm_seeds/seed_summary.csv

Rows are grouped by `model` with the seed taken out (`.../seed1/final` and `.../seed2/final` are one group); the
std is the sample standard deviation (ddof=1). Prints the table as markdown ("mean ± std") and, with --output,
writes the numeric table (`n`, `<benchmark> mean`, `<benchmark> std`) as CSV.
"""

import argparse
import os
from pathlib import Path

from mirror.errors import run_cli
from mirror.summary import format_mean_std, seed_summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="results CSVs written by the evaluation suite")
    parser.add_argument("--output", default=None, help="write the numeric summary (mean and std columns) here")
    parser.add_argument("--digits", type=int, default=2, help="decimals in the printed table")
    args = parser.parse_args(argv)
    summary = seed_summary(args.results)
    print(format_mean_std(summary, args.digits).to_markdown())
    if args.output:
        tmp = Path(args.output).with_name(Path(args.output).name + ".tmp")
        summary.to_csv(tmp)
        os.replace(tmp, args.output)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    run_cli(main)
