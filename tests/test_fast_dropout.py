"""mirror.fast_dropout: the mask drops at the rate and keeps the expectation, comes from torch's seeded RNG, the
attention function computes softmax(Q K^T * s + mask) V with that mask (and is sdpa itself outside training),
eval-mode outputs and saved checkpoints are those of the plain model, and the recipe turns it on by default."""

import json
import math

import pytest
import torch
from torch import nn
from transformers import AutoModel

import mirror.fast_dropout as fd
from mirror.config import DataArguments, MirrorConfig, ModelArguments, resolved_config
from mirror.encoder import load_encoder, save_encoder
from mirror.recipe import parse_args, train
from mirror.st_format import read_run_config

TEXTS = ["a man is playing a guitar", "a dog runs on the beach", "two women are talking", "it is raining today"]


def batch(tokenizer, texts=TEXTS):
    return tokenizer(list(texts), padding=True, return_tensors="pt")


def plain_dropouts(model):
    return sum(type(m) is nn.Dropout for m in model.modules())


# ---- the mask ----

@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_the_mask_drops_at_the_rate_and_keeps_the_expectation(p):
    torch.manual_seed(0)
    n = 400_000
    mask = fd.dropout_mask((n // 4, 4), p, torch.float32)
    t = fd.keep_threshold(p)
    assert abs(t / 65536 - (1 - p)) <= 1 / 131072
    values = mask.unique().tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(65536 / t, rel=1e-6)
    kept = (mask > 0).float().mean().item()
    sd = (p * (1 - p) / n) ** 0.5
    assert abs(kept - t / 65536) < 5 * sd  # the keep rate, within 5 standard deviations
    assert mask.mean().item() == pytest.approx(1.0, abs=5 * sd / (1 - p))  # E[x * mask] = x


def test_bf16_scales_each_kept_element_as_torchs_dropout_does():
    """bf16 cannot hold 1 / 0.9: the product x * scale is rounded per element, not taken from a rounded mask."""
    torch.manual_seed(0)
    x = torch.randn(1000, 64).to(torch.bfloat16)
    torch.manual_seed(1)
    y = fd.fast_dropout(x, 0.1)
    torch.manual_seed(1)
    keep = fd.keep_mask(x.shape, 0.1)
    scale = 65536 / fd.keep_threshold(0.1)
    assert y.dtype == torch.bfloat16 and torch.equal(y == 0, ~keep | (x == 0))
    assert torch.equal(y[keep], (x[keep] * scale))  # what torch's own bf16 dropout computes for the kept ones
    assert not torch.equal(y[keep], x[keep] * torch.tensor(scale, dtype=torch.bfloat16))  # not a rounded scale


def test_every_position_of_a_random_word_is_used():
    """Four masks per 64-bit word: each of the four int16 lanes must drop at the rate (a lane stuck at one value,
    e.g. a sign bit that random_ never sets, would show here)."""
    torch.manual_seed(0)
    mask = fd.dropout_mask((100_000, 4), 0.5, torch.float32)
    for lane in range(4):
        assert (mask[:, lane] == 0).float().mean().item() == pytest.approx(0.5, abs=0.01)


def test_the_mask_comes_from_torchs_seeded_rng():
    torch.manual_seed(3)
    a = fd.dropout_mask((64, 33), 0.1, torch.float32)
    torch.manual_seed(3)
    b = fd.dropout_mask((64, 33), 0.1, torch.float32)
    c = fd.dropout_mask((64, 33), 0.1, torch.float32)
    assert torch.equal(a, b) and not torch.equal(b, c)


def test_no_dropout_outside_training_or_at_p_zero():
    x = torch.randn(5, 7)
    assert torch.equal(fd.fast_dropout(x, 0.3, training=False), x)
    assert torch.equal(fd.fast_dropout(x, 0.0, training=True), x)
    assert torch.equal(fd.fast_dropout(x, 1.0, training=True), torch.zeros_like(x))  # p = 1 drops everything
    layer = fd.FastDropout(0.3).eval()
    assert torch.equal(layer(x), x)
    y = layer.train()(x)
    assert ((y == 0) | torch.isclose(y, x * 65536 / fd.keep_threshold(0.3))).all() and (y == 0).any()


def test_gradients_flow_through_the_kept_elements_only():
    torch.manual_seed(0)
    x = torch.randn(50, 20, requires_grad=True)
    torch.manual_seed(1)
    fd.fast_dropout(x, 0.2).sum().backward()
    torch.manual_seed(1)
    mask = fd.dropout_mask(x.shape, 0.2, x.dtype)
    assert torch.equal(x.grad, mask)


# ---- the attention function ----

def manual_attention(q, k, v, keep_bool, mask):
    scores = q @ k.transpose(2, 3) * q.size(-1) ** -0.5
    scores = scores.masked_fill(~keep_bool, torch.finfo(scores.dtype).min)
    return (torch.softmax(scores, -1) * mask) @ v


class Training(nn.Module):
    """An attention module as transformers' are: its probabilities' dropout in `.dropout`."""

    def __init__(self, dropout: nn.Module | None = None):
        super().__init__()
        self.dropout = fd.FastDropout(0.1) if dropout is None else dropout


def test_attention_in_training_is_softmax_dropout_and_values():
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 4, 6, 8) for _ in range(3))
    attend = torch.ones(3, 1, 6, 6, dtype=torch.bool)
    attend[1, ..., 4:] = False  # row 1: its last two tokens are padding
    module = Training().train()
    torch.manual_seed(5)
    out, weights = fd.attention_forward(module, q, k, v, attend, scaling=None, dropout=0.25)
    torch.manual_seed(5)
    mask = fd.dropout_mask((3, 4, 6, 6), 0.25, torch.float32)
    assert weights is None and out.shape == (3, 6, 4, 8)  # (B, L, heads, d), as transformers expects
    assert torch.allclose(out, manual_attention(q, k, v, attend, mask).transpose(1, 2), atol=1e-5)
    assert (mask == 0).any()  # something dropped, so the comparison says something


def test_attention_without_fast_dropout_is_transformers_sdpa_or_its_two_products():
    """fp32 without dropout, training with torch's own dropout, and bf16 keys wider than MATH_MAX_WIDTH are
    transformers' sdpa call bit for bit; without dropout on a CPU, short bf16 keys are the two products, equal to
    sdpa's to bf16 rounding."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    def inputs(width, dtype=torch.float32):
        torch.manual_seed(0)
        q, k, v = (torch.randn(2, 4, width, 8).to(dtype) for _ in range(3))
        attend = torch.ones(2, 1, width, width, dtype=torch.bool)
        attend[0, ..., 3:] = False
        return q, k, v, attend

    bf16 = torch.bfloat16
    cases = [(Training(nn.Dropout(0.1)).train(), 0.1, 5, torch.float32, "exact"),  # torch's dropout: sdpa draws it
             (Training().eval(), 0.0, 5, torch.float32, "exact"), (Training().train(), 0.0, 5, torch.float32, "exact"),
             (Training().eval(), 0.0, fd.MATH_MAX_WIDTH + 1, bf16, "exact"),
             (Training().eval(), 0.0, 5, bf16, "close"), (Training().train(), 0.0, fd.MATH_MAX_WIDTH, bf16, "close")]
    for module, dropout, width, dtype, how in cases:
        q, k, v, attend = inputs(width, dtype)
        torch.manual_seed(1)
        ours = fd.attention_forward(module, q, k, v, attend, dropout=dropout)[0]
        torch.manual_seed(1)
        theirs = sdpa_attention_forward(module, q, k, v, attend, dropout=dropout)[0]
        if how == "exact":
            assert torch.equal(ours, theirs), (module.training, width, dtype)
        else:
            assert torch.allclose(ours.float(), theirs.float(), atol=3e-2) and not torch.equal(ours, theirs), (module.training, width)
    args = inputs(5)
    assert not torch.equal(*(fd.attention_forward(Training(nn.Dropout(0.5)).train(), *args, dropout=0.5)[0]
                             for _ in range(2)))  # the first case did drop
    q, k, v, attend = inputs(5, bf16)  # grouped key/value heads (2 for 4 query heads): sdpa's, which repeats them
    module = Training().eval()
    module.num_key_value_groups = 2
    k, v = k[:, :2], v[:, :2]
    assert torch.equal(fd.attention_forward(module, q, k, v, attend)[0], sdpa_attention_forward(module, q, k, v, attend)[0])


def test_attention_under_bf16_autocast_runs_its_products_in_bf16():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 5, 8) for _ in range(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fd.attention_forward(Training().train(), q, k, v, None, dropout=0.1)[0]
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_attention_without_gradients_takes_its_bf16_softmax_in_bf16_and_with_them_in_fp32(monkeypatch):
    """Eval and encode (no gradients): bf16 scores, a bf16 mask and torch's bf16 softmax (fp32 inside, one rounding),
    equal to the fp32 softmax rounded to bf16 up to that rounding; an fp32 additive mask (the packing's) stays finite
    in bf16. With gradients the softmax is fp32, bit for bit the formula it always was."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 4, 7, 8).to(torch.bfloat16) for _ in range(3))
    keys = torch.ones(3, 1, 1, 7, dtype=torch.bool)
    keys[0, ..., 1:] = False  # row 0 attends to its first key only
    keys[1, ..., 4:] = False
    additive = torch.zeros(keys.shape).masked_fill_(~keys, torch.finfo(torch.float32).min)  # Packing.additive_masks

    def fp32_softmax(q, k, v):
        scores = q @ k.transpose(2, 3) * 0.35 + additive
        return (torch.softmax(scores, dim=-1, dtype=torch.float32).to(v.dtype) @ v).transpose(1, 2)

    softmax_dtypes = []
    real_softmax = torch.softmax
    monkeypatch.setattr(torch, "softmax", lambda x, dim, dtype=None: softmax_dtypes.append((x.dtype, dtype))
                        or real_softmax(x, dim, dtype=dtype))  # fmt: skip
    with torch.no_grad():
        outs = [fd._attention(q, k, v, mask, 0.35, 0.0)[0] for mask in (keys, additive)]
        reference = fp32_softmax(q, k, v)
    assert softmax_dtypes[:2] == [(torch.bfloat16, None)] * 2
    for out in outs:
        assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
        assert torch.equal(out[0], v[0, :, 0].expand_as(out[0]))  # (L, heads, d): every query of row 0 reads key 0
        assert torch.allclose(out.float(), reference.float(), atol=2e-2)
    assert torch.equal(outs[0], outs[1])
    nothing = torch.full(keys.shape, torch.finfo(torch.float32).min)  # an additive mask that hides every key
    with torch.no_grad():  # fp32's minimum in bf16 would be -inf, and a row of -inf a NaN softmax: the mask is clamped
        assert torch.isfinite(fd._attention(q, k, v, nothing, 0.35, 0.0)[0].float()).all()
    softmax_dtypes.clear()
    q.requires_grad_(True)
    out = fd._attention(q, k, v, additive, 0.35, 0.0)[0]
    assert softmax_dtypes == [(torch.float32, torch.float32)] and torch.equal(out, fp32_softmax(q, k, v))


# ---- on a model ----

def test_a_model_gets_fast_dropout_everywhere_and_eval_outputs_do_not_change(tiny_bert, bert_tokenizer):
    plain = AutoModel.from_pretrained(str(tiny_bert)).eval()
    model = AutoModel.from_pretrained(str(tiny_bert))
    before = plain_dropouts(model)
    info = fd.apply_fast_dropout(model)
    assert info == {"modules": before, "attention": fd.ATTENTION} and before > 0
    assert plain_dropouts(model) == 0 and model.config._attn_implementation == fd.ATTENTION
    assert fd.apply_fast_dropout(model)["modules"] == 0  # idempotent
    inputs = batch(bert_tokenizer)
    with torch.no_grad():
        assert torch.equal(model.eval()(**inputs).last_hidden_state, plain(**inputs).last_hidden_state)  # fp32: sdpa
        torch.manual_seed(0)
        a = model.train()(**inputs).last_hidden_state
        b = model(**inputs).last_hidden_state
    assert not torch.allclose(a, b)  # training forwards draw new masks


def test_at_dropout_zero_a_training_forward_is_the_plain_models(tiny_bert, bert_tokenizer):
    plain = load_encoder(str(tiny_bert), dropout=0.0).model.train()
    fast = load_encoder(str(tiny_bert), dropout=0.0, fast_dropout=True).model.train()
    assert plain_dropouts(fast) == 0
    inputs = batch(bert_tokenizer)
    assert torch.equal(fast(**inputs).last_hidden_state, plain(**inputs).last_hidden_state)


def test_another_attention_kernel_is_kept(tiny_bert):
    model = load_encoder(str(tiny_bert), attn_implementation="eager", fast_dropout=True).model
    assert model.config._attn_implementation == "eager" and plain_dropouts(model) == 0


def test_a_saved_encoder_is_a_plain_checkpoint(tiny_bert, bert_tokenizer, tmp_path):
    enc = load_encoder(str(tiny_bert), dropout=0.1, fast_dropout=True)
    save_encoder(enc, tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert fd.ATTENTION not in json.dumps(config)
    loaded = AutoModel.from_pretrained(str(tmp_path / "saved"))
    assert loaded.config._attn_implementation == "sdpa" and plain_dropouts(loaded) > 0
    inputs = batch(bert_tokenizer)
    with torch.no_grad():
        assert torch.allclose(loaded.eval()(**inputs).last_hidden_state, enc.model.eval()(**inputs).last_hidden_state, atol=1e-6)


# ---- the setting ----

def test_the_recipe_defaults_to_fast_dropout_and_records_it(tiny_bert, tmp_path):
    out = ["--output_dir", str(tmp_path / "o")]
    assert parse_args(out, "sentence")[0].fast_dropout is True
    model_args = parse_args(out + ["--fast_dropout", "false"], "word")[0]
    assert model_args.fast_dropout is False
    enc = load_encoder(str(tiny_bert), dropout=0.1)
    run = resolved_config(ModelArguments(model_name_or_path=str(tiny_bert)), DataArguments(), MirrorConfig(output_dir=str(tmp_path / "r"), report_to=[]), enc)
    save_encoder(enc, tmp_path / "saved", run_config=run)
    assert read_run_config(tmp_path / "saved")["model"]["fast_dropout"] is True


@pytest.mark.parametrize("flag, expected", [([], 0), (["--fast_dropout", "false"], None)], ids=["default", "off"])
def test_the_recipe_trains_with_the_dropout_it_was_given(tiny_bert, tmp_path, flag, expected):
    from transformers import TrainerCallback

    from test_recipe import corpus

    seen = {}

    class Look(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            seen["plain"], seen["attention"] = plain_dropouts(model), model.config._attn_implementation

    argv = ["--model_name_or_path", str(tiny_bert), "--output_dir", str(tmp_path / "out"), "--train_file",
            str(corpus(tmp_path, 32)), "--per_device_train_batch_size", "8", "--max_steps", "2", "--disable_tqdm", "true",
            "--report_to", "none", *flag]  # fmt: skip
    result = train(*parse_args(argv, "sentence"), callbacks=[Look()])
    assert math.isfinite(result["train_loss"]) and result["train_loss"] > 0
    if expected == 0:
        assert seen == {"plain": 0, "attention": fd.ATTENTION}
    else:
        assert seen["plain"] > 0 and seen["attention"] == fd.ATTENTION  # torch's dropout, sdpa draws it in attention


def test_a_training_forward_has_the_plain_models_distribution():
    """Monte Carlo over 1,500 training forwards of a tiny BERT (hidden and attention dropout 0.1), torch's dropout
    against ours: the mean of every output element agrees to its standard error (the z-scores look standard
    normal: mean |z| = 0.80) and the variances agree (ratio ~1). A wrong rate, scale or attention mask shows here."""
    import copy

    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, vocab_size=100,
                        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)  # fmt: skip
    plain = BertModel(config).train()
    fast = copy.deepcopy(plain)
    fd.apply_fast_dropout(fast)
    ids, attend = torch.randint(5, 100, (4, 9)), torch.ones(4, 9, dtype=torch.long)
    attend[1, 6:] = 0

    def moments(model, n=1500, per=500):  # each copy of the 4 rows draws its own masks: 500 copies per forward
        outs = [model(input_ids=ids.repeat(per, 1), attention_mask=attend.repeat(per, 1)).last_hidden_state
                for _ in range(n // per)]  # fmt: skip
        outs = torch.cat(outs).view(n, *ids.shape, -1)  # (n, 4, 9, H)
        return outs.mean(0), outs.var(0), n

    with torch.no_grad():
        (m_plain, v_plain, n), (m_fast, v_fast, _) = moments(plain), moments(fast)
    z = (m_fast - m_plain) / ((v_plain + v_fast) / n).sqrt()
    assert 0.72 < z.abs().mean().item() < 0.88 and (z.abs() > 4.5).sum().item() == 0
    assert (v_fast / v_plain).mean().item() == pytest.approx(1.0, abs=0.03)
