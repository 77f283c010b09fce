"""DropHead: whole heads drop at the expected rate, kept heads are rescaled, a row never loses every head, eval mode
and saved encoders are untouched, gradients match a manual masked computation, both attention kernels, the BERT
family reached and anything else refused, and the setting travels through the config and the saved run record."""

import json

import pytest
import torch
import yaml
from transformers import AutoConfig, AutoModel

import mirror.drophead as drophead_module
from mirror.card import recipe_yaml
from mirror.config import DataArguments, MirrorConfig, ModelArguments, resolved_config
from mirror.drophead import apply_drophead, attention_outputs, head_mask, remove_drophead
from mirror.encoder import load_encoder, save_encoder
from mirror.errors import ConfigError
from mirror.recipe import parse_args
from mirror.st_format import read_run_config

from conftest import TINY

TEXTS = ["a man is playing a guitar", "a dog runs on the beach", "two women are talking", "it is raining today"]
HEADS, HEAD_SIZE = TINY["num_attention_heads"], TINY["hidden_size"] // TINY["num_attention_heads"]


def batch(tokenizer, texts=TEXTS):
    return tokenizer(list(texts), padding=True, return_tensors="pt")


def capture(model):
    """Per layer, the heads' contexts before drophead (the self-attention's output) and after (dense's input)."""
    before, after = [], []
    for module in model.modules():
        if getattr(module, "self", None) is not None and hasattr(module.self, "num_attention_heads"):
            module.self.register_forward_hook(lambda m, a, out: before.append(out[0].detach()))
            # hooks run in registration order: this one sees what drophead's pre-hook passed on
            module.output.dense.register_forward_pre_hook(lambda m, a: after.append(a[0].detach()))
    return before, after


def per_head(x):
    return x.unflatten(-1, (HEADS, HEAD_SIZE))  # (B, L, heads, d)


# ---- the mask ----

def test_head_mask_drops_at_the_rate_and_rescales_each_row():
    torch.manual_seed(0)
    p, rows = 0.2, 50_000
    mask = head_mask(rows, HEADS, p)  # (rows, heads)
    kept = (mask > 0).sum(dim=-1, keepdim=True)
    # a head drops with probability p, except in the rows where all would drop (p ** heads): they keep all
    assert (mask == 0).float().mean().item() == pytest.approx(p - p**HEADS, abs=0.005)
    assert torch.allclose(mask[mask > 0], (HEADS / kept.float()).expand_as(mask)[mask > 0])
    assert torch.allclose(mask.sum(dim=-1), torch.full((rows,), float(HEADS)))  # every row's heads sum to H


def test_a_row_that_would_lose_every_head_keeps_them_all():
    torch.manual_seed(0)
    mask = head_mask(2000, HEADS, 0.99)  # almost every row would lose all four heads
    all_kept = (mask == 1.0).all(dim=-1)
    assert all_kept.float().mean() > 0.9  # those rows keep every head, unscaled
    assert torch.isfinite(mask).all() and ((mask > 0).sum(dim=-1) >= 1).all()


def test_the_mask_comes_from_torchs_rng():
    torch.manual_seed(7)
    a = head_mask(64, HEADS, 0.5)
    torch.manual_seed(7)
    assert torch.equal(a, head_mask(64, HEADS, 0.5))
    assert not torch.equal(a, head_mask(64, HEADS, 0.5))


# ---- on a model ----

@pytest.mark.parametrize("kernel", ["sdpa", "eager"])
def test_heads_really_drop_and_kept_heads_are_rescaled(tiny_bert, bert_tokenizer, kernel):
    enc = load_encoder(str(tiny_bert), dropout=0.0, drophead=0.2, attn_implementation=kernel)
    assert enc.model.config._attn_implementation == kernel
    before, after = capture(enc.model)
    enc.model.train()
    torch.manual_seed(0)
    inputs = batch(bert_tokenizer, TEXTS * 128)  # 512 rows x 2 layers x 4 heads
    enc.model(**inputs)
    assert len(before) == len(after) == TINY["num_hidden_layers"]
    dropped_fraction = []
    for b, a in zip(before, after):
        b, a = per_head(b), per_head(a)  # (B, L, heads, d)
        zero = (a == 0).all(dim=-1).all(dim=1)  # (B, heads): the head's whole output is zero in that row
        assert not (b == 0).all(dim=-1).all(dim=1).any()  # ... which the undropped contexts never are
        assert not zero.all(dim=-1).any()  # no row loses every head
        scale = HEADS / (~zero).sum(dim=-1).float()  # (B,)
        expected = torch.where(zero[:, None, :, None], 0.0, b * scale[:, None, None, None])
        assert torch.allclose(a, expected, atol=1e-6)
        dropped_fraction.append(zero.float().mean().item())
    assert sum(dropped_fraction) / len(dropped_fraction) == pytest.approx(0.2 - 0.2**HEADS, abs=0.03)


def test_nothing_drops_in_eval_and_train_forwards_differ(tiny_bert, bert_tokenizer):
    plain = load_encoder(str(tiny_bert), dropout=0.0).model
    hooked = load_encoder(str(tiny_bert), dropout=0.0, drophead=0.2).model
    inputs = batch(bert_tokenizer)
    plain.train(), hooked.train()
    with torch.no_grad():
        assert torch.equal(plain(**inputs).last_hidden_state, plain(**inputs).last_hidden_state)  # no dropout left
        assert not torch.allclose(hooked(**inputs).last_hidden_state, hooked(**inputs).last_hidden_state)
        torch.manual_seed(3)
        first = hooked(**inputs).last_hidden_state
        torch.manual_seed(3)
        assert torch.equal(first, hooked(**inputs).last_hidden_state)  # seeded: the same heads drop again
        plain.eval(), hooked.eval()
        assert torch.equal(hooked(**inputs).last_hidden_state, plain(**inputs).last_hidden_state)
    remove_drophead(hooked)
    hooked.train()
    with torch.no_grad():
        assert torch.equal(hooked(**inputs).last_hidden_state, plain(**inputs).last_hidden_state)


def test_sdpa_and_eager_drop_the_same_heads(tiny_bert, bert_tokenizer):
    inputs = batch(bert_tokenizer)
    outputs = []
    for kernel in ("sdpa", "eager"):
        model = load_encoder(str(tiny_bert), dropout=0.0, drophead=0.3, attn_implementation=kernel).model.train()
        torch.manual_seed(11)
        with torch.no_grad():
            outputs.append(model(**inputs).last_hidden_state)
    assert torch.allclose(outputs[0], outputs[1], atol=1e-5)


def test_gradients_match_a_manual_masked_computation(tiny_bert, bert_tokenizer, monkeypatch):
    masks = []
    real_head_mask = head_mask

    def recording(*args, **kwargs):
        masks.append(real_head_mask(*args, **kwargs))
        return masks[-1]

    monkeypatch.setattr(drophead_module, "head_mask", recording)
    hooked = load_encoder(str(tiny_bert), dropout=0.0, drophead=0.5).model.train()
    inputs = batch(bert_tokenizer, TEXTS[:1])  # one row: a dropped head's weights get no gradient at all
    torch.manual_seed(1)  # this seed drops at least one head and keeps at least one in some layer
    hooked(**inputs).last_hidden_state.pow(2).sum().backward()
    assert len(masks) == TINY["num_hidden_layers"]
    assert any(((m == 0).any() and (m > 0).any()).item() for m in masks)

    manual = load_encoder(str(tiny_bert), dropout=0.0).model.train()
    for (dense, heads, size), m in zip(attention_outputs(manual), list(masks)):
        dense.register_forward_pre_hook(
            lambda mod, a, m=m: (a[0].unflatten(-1, (HEADS, HEAD_SIZE)).mul(m[:, None, :, None]).flatten(-2),)
        )
    manual(**inputs).last_hidden_state.pow(2).sum().backward()
    grads = {n: p.grad for n, p in hooked.named_parameters() if p.grad is not None}
    reference = {n: p.grad for n, p in manual.named_parameters() if p.grad is not None}
    assert grads.keys() == reference.keys() and len(grads) > 10
    for name in grads:
        assert torch.allclose(grads[name], reference[name], atol=1e-6), name

    for layer, m in zip(hooked.encoder.layer, masks):
        value_grad = layer.attention.self.value.weight.grad.view(HEADS, HEAD_SIZE, -1)  # rows of each head's V
        for h in range(HEADS):
            if m[0, h] == 0:
                assert torch.count_nonzero(value_grad[h]) == 0
            else:
                assert torch.count_nonzero(value_grad[h]) > 0


# ---- which models ----

FAMILY = {
    "bert": {},
    "roberta": {"pad_token_id": 1},
    "xlm-roberta": {"pad_token_id": 1},
    "electra": {"embedding_size": 16},
}


@pytest.mark.parametrize("model_type", list(FAMILY))
def test_the_bert_family_is_reached(model_type):
    config = AutoConfig.for_model(
        model_type, vocab_size=99, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **TINY, **FAMILY[model_type]
    )
    model = AutoModel.from_config(config)
    assert apply_drophead(model, 0.3) == TINY["num_hidden_layers"]
    ids = torch.randint(5, 99, (8, 12))
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model(input_ids=ids).last_hidden_state, model(input_ids=ids).last_hidden_state)
        model.eval()
        assert torch.equal(model(input_ids=ids).last_hidden_state, model(input_ids=ids).last_hidden_state)


def test_an_architecture_it_cannot_reach_is_a_clear_error(tmp_path, bert_tokenizer):
    config = AutoConfig.for_model("distilbert", vocab_size=bert_tokenizer.vocab_size, dim=32, n_layers=2, n_heads=4,
                                  hidden_dim=37)
    model = AutoModel.from_config(config)
    with pytest.raises(ConfigError, match=r"--drophead: model_type 'distilbert' .*BERT family"):
        apply_drophead(model, 0.2)
    model.save_pretrained(tmp_path / "distil")
    bert_tokenizer.save_pretrained(tmp_path / "distil")
    with pytest.raises(ConfigError, match="model_type 'distilbert'"):
        load_encoder(str(tmp_path / "distil"), drophead=0.2)
    assert load_encoder(str(tmp_path / "distil")).model.config.model_type == "distilbert"  # without drophead: fine


# ---- the setting ----

def test_drophead_turns_the_default_dropout_off_but_an_explicit_one_wins(tmp_path):
    out = ["--output_dir", str(tmp_path)]
    assert parse_args(out, "sentence")[0].dropout == 0.1
    m = parse_args(out + ["--drophead", "0.2"], "sentence")[0]
    assert (m.drophead, m.dropout) == (0.2, 0.0)
    m = parse_args(out + ["--drophead", "0.2", "--dropout", "0.1"], "sentence")[0]
    assert (m.drophead, m.dropout) == (0.2, 0.1)
    with pytest.raises(ConfigError, match="--drophead must be in"):
        parse_args(out + ["--drophead", "1.0"], "sentence")
    with pytest.raises(ConfigError, match="--drophead must be in"):
        apply_drophead(torch.nn.Linear(2, 2), -0.1)


def test_the_setting_round_trips_and_a_saved_encoder_has_no_hooks(tiny_bert, bert_tokenizer, tmp_path):
    model_args = ModelArguments(model_name_or_path=str(tiny_bert), drophead=0.2)
    enc = load_encoder(model_args.model_name_or_path, dropout=model_args.dropout, drophead=model_args.drophead)
    args = MirrorConfig(output_dir=str(tmp_path / "run"), report_to=[])
    run = resolved_config(model_args, DataArguments(), args, enc)
    save_encoder(enc, tmp_path / "saved", run_config=run)

    saved = read_run_config(tmp_path / "saved")["model"]
    assert (saved["drophead"], saved["dropout"]) == (0.2, 0.0)
    again = ModelArguments(**{k: v for k, v in saved.items() if k not in ("pooling", "max_seq_length")})
    assert again == model_args
    assert "drophead" not in json.loads((tmp_path / "saved" / "config.json").read_text())
    assert yaml.safe_load(recipe_yaml(run))["drophead"] == 0.2  # the card's recipe trains it again with drophead

    loaded = load_encoder(str(tmp_path / "saved")).model.train()  # saved dropout 0, and no hooks came along
    inputs = batch(bert_tokenizer)
    with torch.no_grad():
        assert torch.equal(loaded(**inputs).last_hidden_state, loaded(**inputs).last_hidden_state)
        enc.model.eval(), loaded.eval()
        assert torch.allclose(loaded(**inputs).last_hidden_state, enc.model(**inputs).last_hidden_state, atol=1e-6)


def test_the_trainer_trains_with_drophead(tiny_bert, sentences, tmp_path):
    from test_trainer import make_trainer

    trainer, enc = make_trainer(tiny_bert, sentences[:16], tmp_path, max_steps=2, pooling="mean")
    apply_drophead(enc.model, 0.2)
    before, after = capture(enc.model)
    trainer.train()
    assert before and any((per_head(a) == 0).all(dim=-1).all(dim=1).any() for a in after)  # heads dropped in training
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in trainer.state.log_history if "loss" in h)


@pytest.mark.parametrize(
    "name, p", [("sentence_bert-base-uncased_drophead", 0.2), ("sentence_roberta-base_drophead", 0.05),
                ("sentence_minilm_drophead", 0.2)]
)
def test_the_drophead_recipes_are_their_plain_recipes_with_heads_dropped(name, p, tmp_path):
    from conftest import REPO

    configs = REPO / "recipes" / "configs"
    out = ["--output_dir", str(tmp_path)]
    m, d, a = parse_args(["--config", str(configs / f"{name}.yaml"), *out], "sentence")
    plain = parse_args(["--config", str(configs / f"{name.removesuffix('_drophead')}.yaml"), *out], "sentence")
    assert (m.drophead, m.dropout) == (p, 0.0)
    assert (m.model_name_or_path, d, a.pooling) == (plain[0].model_name_or_path, plain[1], plain[2].pooling)
