"""Train a Mirror-BERT sentence encoder (paper defaults: tau 0.04, 5-character span mask, max 50 tokens, 1 epoch).

CPU, offline (packaged all-MiniLM-L6-v2, shipped 10k STS-B sentences; about 10 minutes on 2 cores):
    accelerate launch --config_file accelerate_config.yaml recipes/train_sentence.py \
        --config recipes/configs/sentence_minilm.yaml

One GPU, bf16 (BERT-base from the Hub, the paper's run):
    accelerate launch --config_file accelerate_config.yaml recipes/train_sentence.py \
        --config recipes/configs/sentence_bert-base-uncased.yaml --bf16

Several GPUs (global batch 200 = 4 x 50; negatives gathered from all ranks):
    accelerate launch --config_file recipes/accelerate/multi_gpu.yaml --num_processes 4 recipes/train_sentence.py \
        --config recipes/configs/sentence_bert-base-uncased.yaml --per_device_train_batch_size 50 --bf16

Any flag overrides the YAML (`--help` lists them all). The encoder is saved to <output_dir>/final.
"""

from mirror.errors import run_cli
from mirror.recipe import parse_args, train


def main(argv: list[str] | None = None) -> None:
    model_args, data_args, training_args = parse_args(argv, "sentence")
    train(model_args, data_args, training_args)


if __name__ == "__main__":
    run_cli(main)
