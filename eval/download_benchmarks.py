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

from mirror.errors import run_cli
from mirror.evaluation.download import main as run_download


def main(argv: list[str] | None = None) -> None:
    run_download(argv, description=__doc__)


if __name__ == "__main__":
    run_cli(main)
