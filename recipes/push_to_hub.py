"""Push an already trained encoder to the Hugging Face Hub with mirror's model card (README.md), optionally with
the evaluation suite's results, or write the folder that would be uploaded (`--dry_run`, no network).

Dry run (offline; check the folder, then push it):
    HF_HUB_OFFLINE=1 python recipes/push_to_hub.py --encoder outputs/sentence_minilm/final \
        --hub_model_id <user>/mirror-minilm-sentence --results outputs/sentence_minilm/results.csv \
        --dry_run outputs/sentence_minilm/hub_upload

Push (after `hf auth login`, or with --token):
    python recipes/push_to_hub.py --encoder outputs/sentence_minilm/final \
        --hub_model_id <user>/mirror-minilm-sentence --results outputs/sentence_minilm/results.csv

Uploaded: weights, tokenizer, config, sentence-transformers pooling metadata, mirror_config.json and the card,
nothing else. Without --results the card shows the recipe's STS-B dev before/after numbers (dev_results.json
beside the encoder folder) when present. A training run can push by itself: `--push_to_hub --hub_model_id ...`.
"""

from transformers import HfArgumentParser

from mirror.errors import ConfigError, run_cli
from mirror.share import PushArguments, push_encoder


def main(argv: list[str] | None = None) -> None:
    parser = HfArgumentParser(PushArguments)
    args, remaining = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    if remaining:
        raise ConfigError(f"unknown argument '{remaining[0]}' (see --help)")
    where = push_encoder(
        args.encoder,
        args.hub_model_id,
        results=args.results,
        token=args.token,
        private=args.private,
        revision=args.revision,
        license=args.license,
        commit_message=args.commit_message,
        dry_run=args.dry_run,
    )
    print(f"{'wrote the upload folder' if args.dry_run else 'pushed to'} {where}")


if __name__ == "__main__":
    run_cli(main)
