"""Fetch the evaluation benchmarks (STS12-16, STS-B, SICK-R, SimLex-999, Multi-SimLex, WordSim-353, MEN, BLI MUSE and
XLING dictionaries, Tatoeba) into the folder the eval/ scripts read by default, checked against the row counts and
checksums in mirror/evaluation/benchmark_sources.json. CPU only; needs the network (and the Hub, for STS-B).

Everything, into the default folder ($MIRROR_BENCHMARK_DATA, else ~/.cache/mirror/benchmarks):
    python eval/download_benchmarks.py

What would be fetched, from where:      python eval/download_benchmarks.py --list
Some benchmarks, into a folder:          python eval/download_benchmarks.py --output_dir data/ --tasks STS12 SICK-R BLI
All 112 Tatoeba languages:               python eval/download_benchmarks.py --tasks Tatoeba --tatoeba_languages all
Fetch again what is already complete:   python eval/download_benchmarks.py --force
From a local mirror (<mirror>/<host>/<path>, e.g. made with `wget -x`) and a local copy of the Hub datasets:
    python eval/download_benchmarks.py --mirror_url http://127.0.0.1:8000/ --hub_dir hub_copies/

Then evaluate with no --data_dir:        python eval/eval_sts.py --model outputs/sentence_minilm/final
An interrupted run resumes its partial downloads; a benchmark that fails is named with its URL and the others
complete; the exit status is 2 when any failed.
"""

import argparse
import logging
from pathlib import Path

from mirror.errors import run_cli
from mirror.evaluation.datadir import default_data_dir
from mirror.evaluation.download import MIRROR_ENV, DownloadReport, download
from mirror.evaluation.sources import list_table, load_sources


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="download_benchmarks.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output_dir", default=None, help=f"default: {default_data_dir()} ($MIRROR_BENCHMARK_DATA)")
    parser.add_argument("--tasks", nargs="+", default=None, help="benchmark names or prefixes (default: all)")
    parser.add_argument("--tatoeba_languages", nargs="+", default=None, help="Tatoeba languages (ISO 639-3) or 'all'")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--force", action="store_true", help="fetch again even when complete")
    parser.add_argument(
        "--mirror_url", default=None, help=f"serve every URL from <mirror_url>/<host>/<path> (${MIRROR_ENV})"
    )
    parser.add_argument("--hub_dir", default=None, help="<hub_dir>/<hub id> replaces a Hugging Face dataset")
    parser.add_argument("--sources", default=None, help="another sources JSON (default: the packaged one)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> DownloadReport | None:
    """List the benchmarks, or fetch them and print a summary; any failed benchmark is a `DataError` (exit 2)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sources = load_sources(args.sources)
    if args.list:
        print(list_table(sources))
        return None
    groups = {"Tatoeba": args.tatoeba_languages} if args.tatoeba_languages else None
    report = download(
        args.output_dir, args.tasks, force=args.force, mirror_url=args.mirror_url, hub_dir=args.hub_dir,
        groups=groups, progress=not args.no_progress, sources=sources,
    )  # fmt: skip
    out = Path(args.output_dir) if args.output_dir else default_data_dir()
    print(f"{out}: {len(report.done)} fetched, {len(report.skipped)} already complete, {len(report.failed)} failed")
    report.raise_for_failures()
    return report


if __name__ == "__main__":
    run_cli(main)
