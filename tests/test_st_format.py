"""sentence-transformers metadata: both pooling layouts read, the classic layout written, the run config checked."""

import json

import pytest

from mirror.errors import ModelLoadError
from mirror.st_format import (
    MIRROR_CONFIG_NAME,
    read_max_seq_length,
    read_pooling,
    read_run_config,
    write_encoder_metadata,
)


def test_read_pooling_both_metadata_layouts(tmp_path):
    (tmp_path / "1_Pooling").mkdir()
    cfg = tmp_path / "1_Pooling" / "config.json"
    cfg.write_text(json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    assert read_pooling(tmp_path) == "cls"
    cfg.write_text(json.dumps({"pooling_mode": "mean"}))
    assert read_pooling(tmp_path) == "mean"
    cfg.write_text(json.dumps({"pooling_mode_max_tokens": True}))
    with pytest.raises(ModelLoadError, match="not supported"):
        read_pooling(tmp_path)
    assert read_pooling(tmp_path / "nowhere") is None


def test_written_metadata_reads_back(tmp_path):
    write_encoder_metadata(tmp_path, "mean", 32, 128, run_config={"model": {}, "data": {}, "training": {"seed": 1}})
    assert read_pooling(tmp_path) == "mean" and read_max_seq_length(tmp_path) == 128
    modules = json.loads((tmp_path / "modules.json").read_text())
    assert [m["type"] for m in modules] == ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling"]
    assert json.loads((tmp_path / "1_Pooling" / "config.json").read_text())["word_embedding_dimension"] == 32
    assert read_run_config(tmp_path)["training"] == {"seed": 1}
    assert not list(tmp_path.rglob("*.tmp"))  # written atomically: no temporary file left
    assert read_max_seq_length(tmp_path / "nowhere") is None


def test_a_run_config_without_its_sections_is_refused(tmp_path):
    (tmp_path / MIRROR_CONFIG_NAME).write_text(json.dumps({"model": {}, "data": {}}))
    with pytest.raises(ModelLoadError, match="no 'training' section"):
        read_run_config(tmp_path)
