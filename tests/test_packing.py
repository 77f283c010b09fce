"""mirror.packing: the packed forward (a call's rows end to end, no padding outside attention) gives the padded
forward's embeddings and gradients for every architecture it is enabled for, keeps rows apart in training too,
falls back to the padded chunks where it cannot run, and is what the trainer uses by default."""

import pytest
import torch
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertModel,
    CamembertConfig,
    CamembertModel,
    DistilBertConfig,
    DistilBertModel,
    ElectraConfig,
    ElectraModel,
    RobertaConfig,
    RobertaModel,
    XLMRobertaConfig,
    XLMRobertaModel,
)

import mirror.encoder
import mirror.packing as pk
from conftest import TINY
from mirror.collator import MirrorCollator
from mirror.encoder import forward_pooled, load_encoder

ARCHITECTURES = {  # model_type -> (config class, model class, tokenizer fixture)
    "bert": (BertConfig, BertModel, "tiny_bert"),
    "electra": (ElectraConfig, ElectraModel, "tiny_bert"),
    "roberta": (RobertaConfig, RobertaModel, "tiny_roberta"),
    "xlm-roberta": (XLMRobertaConfig, XLMRobertaModel, "tiny_roberta"),
    "camembert": (CamembertConfig, CamembertModel, "tiny_roberta"),
}


def build(model_type, request, tmp_path, dropout=0.0, fast_dropout=True):
    config_cls, model_cls, tok_fixture = ARCHITECTURES[model_type]
    tokenizer = AutoTokenizer.from_pretrained(request.getfixturevalue(tok_fixture))
    extra = {"embedding_size": TINY["hidden_size"]} if model_type == "electra" else {}
    pad = {"pad_token_id": tokenizer.pad_token_id, "max_position_embeddings": 130} if tok_fixture == "tiny_roberta" else {}
    config = config_cls(vocab_size=len(tokenizer), hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                        **{**TINY, **pad, **extra})  # fmt: skip
    torch.manual_seed(0)
    model_cls(config).save_pretrained(tmp_path / model_type)
    tokenizer.save_pretrained(tmp_path / model_type)
    return load_encoder(str(tmp_path / model_type), pooling="mean", fast_dropout=fast_dropout)


def calls_of(model):
    """Record each forward call's inputs: (batch rows, tokens per row, attention mask given)."""
    seen = []

    def hook(module, args, kwargs):
        x = kwargs.get("inputs_embeds", kwargs.get("input_ids"))
        seen.append((x.shape[0], x.shape[1], kwargs.get("attention_mask") is not None))

    return seen, model.register_forward_pre_hook(hook, with_kwargs=True)


def rows(enc, sentences, n=40):
    return MirrorCollator(enc.tokenizer, max_length=50, span_mask_len=5, seed=0)(sentences[:n])


@pytest.mark.parametrize("model_type", list(ARCHITECTURES))
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_packed_forward_equals_the_padded_forward(model_type, pooling, request, tmp_path, sentences):
    enc = build(model_type, request, tmp_path)
    assert pk.packing_reason(enc.model) is None
    batch = rows(enc, sentences)
    enc.model.eval()
    seen, handle = calls_of(enc.model)
    with torch.no_grad():
        padded = forward_pooled(enc.model, batch, pooling)  # one padded forward
        packed = forward_pooled(enc.model, batch, pooling, 16, packed=True)
    handle.remove()
    real = int(batch["attention_mask"].sum())
    assert seen[0] == (80, batch["attention_mask"].shape[1], True)
    assert all(r == 1 and not masked for r, _, masked in seen[1:]) and sum(t for _, t, _ in seen[1:]) == real
    torch.testing.assert_close(packed, padded, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_packed_chunks_attend_through_sdpa_in_fp32_and_the_two_products_in_bf16(model_type, precision, request,
                                                                               tmp_path, sentences, monkeypatch):
    """In eval, fp32 chunks attend through torch's sdpa, bf16 ones (keys <= MATH_MAX_WIDTH) through the two
    products; either way the packed forward gives the padded forward's embeddings."""
    enc = build(model_type, request, tmp_path)
    batch = rows(enc, sentences)
    enc.model.eval()
    bf16 = precision == "bf16"
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        padded = forward_pooled(enc.model, batch, "mean")
        sdpa = []
        monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                            lambda *a, f=torch.nn.functional.scaled_dot_product_attention, **k: sdpa.append(1) or f(*a, **k))
        packed = forward_pooled(enc.model, batch, "mean", 200, packed=True)  # chunks of unequal rows: keys masked
    assert len(sdpa) == 0 if bf16 else len(sdpa) >= TINY["num_hidden_layers"]  # fp32: every layer, per chunk
    torch.testing.assert_close(packed, padded, rtol=1e-5, atol=1e-3 if bf16 else 1e-5)  # no mask: 6e-3 and more


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_packed_gradients_equal_the_padded_ones(model_type, request, tmp_path, sentences):
    enc = build(model_type, request, tmp_path)
    batch = rows(enc, sentences, 24)
    enc.model.train()
    grads = []
    for packed in (False, True):
        enc.model.zero_grad()
        emb = forward_pooled(enc.model, batch, "mean", 16 if packed else 0, packed=packed)
        (emb[::2].sum() - emb[1::2].pow(2).sum()).backward()
        grads.append({n: p.grad.clone() for n, p in enc.model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and "embeddings.word_embeddings.weight" in grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("fast_dropout", [True, False], ids=["fast dropout", "torch's dropout"])
def test_rows_stay_apart_in_training_with_dropout(request, tmp_path, sentences, fast_dropout):
    """Training mode, with fast dropout or torch's (sdpa's dropout per chunk): changing one row's tokens (not its
    length) leaves every other row's embedding exactly as it was under the same seed, so no token attends across
    rows of the packed sequence."""
    enc = build("bert", request, tmp_path, dropout=0.1, fast_dropout=fast_dropout)
    batch = rows(enc, sentences)
    enc.model.train()
    other = {k: v.clone() for k, v in batch.items()}
    n = int(other["attention_mask"][3].sum())
    other["input_ids"][3, 1 : n - 1] = torch.randint(1000, 2000, (n - 2,))
    out = []
    for b in (batch, other):
        torch.manual_seed(5)
        with torch.no_grad():
            out.append(forward_pooled(enc.model, b, "mean", 16, packed=True))
    keep = torch.arange(80) != 3
    assert torch.equal(out[0][keep], out[1][keep]) and not torch.equal(out[0][3], out[1][3])


def test_calls_hold_at_most_the_token_budget_and_agree_on_a_count(request, tmp_path, sentences, monkeypatch):
    enc = build("bert", request, tmp_path)
    batch = rows(enc, sentences)
    enc.model.eval()
    with torch.no_grad():
        padded = forward_pooled(enc.model, batch, "mean")
        monkeypatch.setattr(mirror.encoder, "max_packed_tokens", lambda config: 300)  # under the 512 floor
        seen, handle = calls_of(enc.model)
        budget = forward_pooled(enc.model, batch, "mean", 16, packed=True)
        calls = len(seen)
        agreed = forward_pooled(enc.model, batch, "mean", 16, lambda count: count + 2, packed=True)
        handle.remove()
    assert calls > 2 and all(tokens <= 300 or rows_ == 1 for rows_, tokens, _ in seen[:calls])
    assert len(seen) - calls == calls + 2  # the other processes' count: as many packed calls
    torch.testing.assert_close(budget, padded, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(agreed, padded, rtol=1e-5, atol=1e-5)


def test_group_chunks_and_the_default_budget():
    lengths = [5, 5, 4, 4, 3, 2, 2, 1]
    assert pk.chunks_within([(0, 2), (2, 5), (5, 8)], 3, 7) == [(0, 2), (2, 4)]  # a call split across chunks
    assert pk.group_chunks([(0, 2), (2, 4), (4, 6), (6, 8)], lengths, 18) == [(0, 4), (4, 8)]
    assert pk.group_chunks([(0, 2), (2, 8)], lengths, 5) == [(0, 2), (2, 8)]  # a chunk over the budget: alone
    assert pk.max_packed_tokens(BertConfig(hidden_size=384, intermediate_size=1536)) == 4096
    assert pk.max_packed_tokens(BertConfig(hidden_size=32, intermediate_size=100_000)) == 512  # the floor


def test_where_it_cannot_pack_the_padded_chunks_run(tiny_bert, request, tmp_path, sentences):
    eager = load_encoder(str(tiny_bert), pooling="mean", attn_implementation="eager", fast_dropout=True)
    plain = load_encoder(str(tiny_bert), pooling="mean", attn_implementation="sdpa")  # transformers' own sdpa, as asked
    assert "eager" in pk.packing_reason(eager.model) and "sdpa" in pk.packing_reason(plain.model)
    assert pk.packing_reason(load_encoder(str(tiny_bert)).model) is None  # the default attention packs, fast dropout or not
    hooked = load_encoder(str(tiny_bert), fast_dropout=True, drophead=0.2)  # a head mask per row: not per packed call
    assert "drophead" in pk.packing_reason(hooked.model)
    config = DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=4, hidden_dim=37)
    assert "'distilbert'" in pk.packing_reason(DistilBertModel(config))
    batch = rows(plain, sentences)
    plain.model.eval()
    seen, handle = calls_of(plain.model)
    with torch.no_grad():
        out = forward_pooled(plain.model, batch, "mean", 16, packed=True)
    handle.remove()
    assert all(masked and r > 1 for r, _, masked in seen)  # padded chunks, each with its attention mask
    with torch.no_grad():
        torch.testing.assert_close(out, forward_pooled(plain.model, batch, "mean"), rtol=1e-5, atol=1e-5)


def test_a_packed_call_whose_attention_never_reads_the_packing_is_refused(request, tmp_path, sentences, monkeypatch):
    """Were the packing lost on its way to the attention, every token would attend to every row: refuse it."""
    import mirror.fast_dropout as fd
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    enc = build("bert", request, tmp_path)
    enc.model.eval()

    def ignores_packing(module, q, k, v, mask, mirror_packing=None, **kwargs):
        return sdpa_attention_forward(module, q, k, v, mask, **kwargs)

    monkeypatch.setitem(AttentionInterface._global_mapping, fd.ATTENTION, ignores_packing)
    with pytest.raises(RuntimeError, match="attention was never called"):
        forward_pooled(enc.model, rows(enc, sentences), "mean", 16, packed=True)


def test_the_trainer_packs_by_default_and_not_when_told(tiny_bert, sentences, tmp_path):
    from test_trainer import make_trainer

    for packed in (True, False):
        trainer, _ = make_trainer(tiny_bert, sentences[:16], tmp_path / str(packed), pooling="mean", fast_dropout=True,
                                  max_steps=1, **({} if packed else {"packed_forward": False}))  # fmt: skip
        assert trainer.args.packed_forward is packed
        seen, handle = calls_of(trainer.model)
        trainer.train()
        handle.remove()
        assert seen and all((r == 1 and not masked) if packed else (r > 1 and masked) for r, _, masked in seen)


def test_the_packing_passes_ddps_input_movers_as_the_same_object():
    """DDP and FSDP move a call's inputs with helpers that rebuild dataclasses: the attention layers' count of
    calls must land on the object forward_pooled checks."""
    from torch.distributed.utils import _apply_to_tensors, _recursive_to

    packing = pk.Packing.of(torch.tensor([[1, 1, 1], [1, 1, 0]]), [(0, 2)])
    kwargs = {"mirror_packing": packing, "input_ids": torch.zeros(1, 5, dtype=torch.long)}
    assert _apply_to_tensors(lambda t: t.clone(), kwargs)["mirror_packing"] is packing
    assert _recursive_to(kwargs, torch.device("cpu"), False)[0]["mirror_packing"] is packing
