"""Train a Mirror-BERT word (lexical) encoder (paper defaults: tau 0.2, no span mask, max 25 tokens, 2 epochs).

CPU, offline (packaged all-MiniLM-L6-v2, shipped top-10k English words; a few minutes on 2 cores):
    accelerate launch --config_file accelerate_config.yaml recipes/train_word.py \
        --config recipes/configs/word_minilm.yaml

One GPU, bf16 (BERT-base from the Hub, the paper's run):
    accelerate launch --config_file accelerate_config.yaml recipes/train_word.py \
        --config recipes/configs/word_bert-base-uncased.yaml --bf16

Several GPUs (global batch 200 = 4 x 50; negatives gathered from all ranks):
    accelerate launch --config_file recipes/accelerate/multi_gpu.yaml --num_processes 4 recipes/train_word.py \
        --config recipes/configs/word_bert-base-multilingual-uncased.yaml --per_device_train_batch_size 50 --bf16

Other languages: `--train_file data/words/fr.txt` (see data/README.md). The encoder is saved to <output_dir>/final.
"""

from mirror.errors import run_cli
from mirror.recipe import parse_args, train


def main(argv: list[str] | None = None) -> None:
    model_args, data_args, training_args = parse_args(argv, "word")
    train(model_args, data_args, training_args)


if __name__ == "__main__":
    run_cli(main)
