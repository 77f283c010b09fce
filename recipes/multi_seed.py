"""Train one recipe with several seeds and report mean ± std over them (the paper averages three seeds).

CPU, offline (three sentence runs into outputs/sentence_minilm/seed1, seed2, seed3; ~5 min each on 2 cores):
    HF_HUB_OFFLINE=1 python recipes/multi_seed.py --level sentence --seeds 1 2 3 \
        --config recipes/configs/sentence_minilm.yaml

With an evaluation per seed ({encoder}, {run_dir} and {seed} are filled in; the command must write
{run_dir}/results.csv, first column `model`, a numeric column per benchmark):
    python recipes/multi_seed.py --level sentence --seeds 1 2 3 --config recipes/configs/sentence_bert-base-uncased.yaml \
        --eval_command "python eval/eval_sts.py --model {encoder} --output_dir {run_dir}"
(eval_sts.py reads the benchmarks from the default folder that eval/download_benchmarks.py fills; add --data_dir DIR for another.)

One GPU: add --bf16. Several GPUs: prefix `accelerate launch --config_file recipes/accelerate/multi_gpu.yaml
--num_processes 4` and set --per_device_train_batch_size 50, as for train_sentence.py.

Any other flag is a recipe flag (as for train_sentence.py / train_word.py) and applies to every seed. The STS-B
dev summary (when the recipe has stsb_dev_file) is written to <output_dir>/seed_summary_dev.csv, the evaluation
summary to <output_dir>/seed_summary.csv; std is the sample standard deviation (ddof=1). To summarise results
you produced separately: recipes/summarize_seeds.py <output_dir>/seed*/results.csv.
"""

import argparse

from mirror.errors import run_cli
from mirror.config import LEVELS
from mirror.seeds import train_seeds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--level", choices=sorted(LEVELS), default="sentence", help="the paper defaults to start from")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="one run per seed")
    parser.add_argument("--eval_command", default=None, help="run per seed after training; see the docstring")
    parser.add_argument("--results_name", default="results.csv", help="the file --eval_command writes in {run_dir}")
    args, recipe_argv = parser.parse_known_args(argv)
    train_seeds(recipe_argv, args.seeds, args.level, args.eval_command, args.results_name)


if __name__ == "__main__":
    run_cli(main)
