"""Sharing: the dry-run folder, the upload (Hub API mocked), the push script, and the recipe's share step."""

from pathlib import Path

import huggingface_hub
import pandas as pd
import pytest

import mirror
from mirror.config import MirrorConfig
from mirror.errors import ConfigError, ModelLoadError
from mirror.hub import stage_upload
from mirror.share import HubTarget, push_encoder, share_encoder

from conftest import recipe_script
from hubkit import UPLOADED, encoder_dir, front_matter, run_config  # noqa: F401 (encoder_dir is a fixture)
from test_trainer import make_trainer

REPO = Path(__file__).resolve().parents[1]


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


def test_training_pushes_nothing_and_the_share_step_uploads_the_final_encoder(tiny_bert, sentences, tmp_path, monkeypatch):
    import transformers.trainer

    def no_network(*a, **k):
        raise AssertionError("the Trainer tried to reach the Hub during training")

    monkeypatch.setattr(transformers.trainer, "hf_api", no_network)
    hub = dict(push_to_hub=True, hub_model_id="me/tiny", hub_dry_run=str(tmp_path / "dry"))
    target = HubTarget.from_config(MirrorConfig(output_dir=str(tmp_path / "run"), report_to=[], **hub))
    assert target == HubTarget(repo_id="me/tiny", dry_run=str(tmp_path / "dry"))
    assert HubTarget.from_config(MirrorConfig(output_dir=str(tmp_path / "o"), report_to=[])) is None
    config = run_config(tmp_path)  # before the trainer: a new TrainingArguments resets accelerate's state
    trainer, _ = make_trainer(
        tiny_bert, sentences[:32], tmp_path, max_steps=2, save_strategy="steps", save_steps=1, run_config=config, **hub
    )
    assert trainer.args.push_to_hub is False  # the stock Trainer creates no repo and pushes no checkpoint
    trainer.train()
    assert not (tmp_path / "run" / "README.md").exists()  # no generic Trainer card
    dest = Path(share_encoder(trainer.save_encoder(tmp_path / "run" / "final"), target))
    assert dest == tmp_path / "dry"
    assert {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} == UPLOADED


@pytest.mark.slow
def test_recipe_writes_the_dry_run_folder_and_curves(tiny_bert, tmp_path):
    from mirror.recipe import parse_args, train

    dev = tmp_path / "dev.csv"
    dev.write_text("".join((REPO / "data" / "stsb" / "sts-dev.csv").read_text(encoding="utf-8").splitlines(keepends=True)[:40]))
    result = train(*parse_args([
        "--model_name_or_path", str(tiny_bert), "--pooling", "mean", "--train_file",
        str(REPO / "data" / "sentences" / "en_stsb_train_10k.txt"), "--max_train_samples", "32",
        "--per_device_train_batch_size", "8", "--max_steps", "3", "--logging_steps", "1", "--stsb_dev_file", str(dev),
        "--output_dir", str(tmp_path / "run"), "--push_to_hub", "--hub_model_id", "me/tiny-mirror",
        "--hub_dry_run", str(tmp_path / "upload"), "--disable_tqdm", "true", "--report_to", "none",
    ], "sentence"))
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
