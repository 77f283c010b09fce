"""The cached step (GradCache) gives the uncached step's loss and gradients.

With dropout 0 the reference is the Trainer's own step (one forward over all 2N rows). With dropout on, the
reference encodes the same mini-batches, in the same order from the same seed, with gradients, and applies the plain
InfoNCE to their concatenation: the cached step must reproduce it, which holds only if each mini-batch's second
forward replays the first one's dropout masks. The two-process equality is in tests/test_distributed.py.
"""

import pytest
import torch
import torch.nn.functional as F
from test_trainer import make_trainer

from mirror.encoder import forward_pooled
from mirror.errors import ConfigError
from mirror.gradcache import RandomState, cached_backward, mini_batches, take_rows
from mirror.losses import info_nce_loss
from mirror import TextDataset
from mirror.config import MirrorConfig


def test_random_state_replays_dropout_and_leaves_the_rng_alone():
    x = torch.ones(1000)
    state = RandomState(x)
    first = F.dropout(x, 0.5)
    after = torch.get_rng_state()
    with state.replay():
        again = F.dropout(x, 0.5)
    assert torch.equal(first, again)
    assert torch.equal(torch.get_rng_state(), after)  # the replay's draws do not leak out
    assert not torch.equal(F.dropout(x, 0.5), first)  # and the RNG goes on from where it was


def test_mini_batches_cover_every_row_once_longest_first_and_take_rows_cuts_padding():
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]])
    groups = mini_batches(mask, 2)
    assert [g.tolist() for g in groups] == [[1, 3], [0, 4], [2]]
    inputs = {"input_ids": torch.arange(20).view(5, 4), "attention_mask": mask}
    sub = take_rows(inputs, groups[1])
    assert sub["input_ids"].tolist() == [[0, 1], [16, 17]] and sub["attention_mask"].tolist() == [[1, 1], [1, 1]]
    left = {"input_ids": inputs["input_ids"], "attention_mask": mask.flip(1)}  # left padding: positions kept
    assert take_rows(left, groups[1])["input_ids"].shape == (2, 4)


def test_cached_backward_matches_one_backward_on_a_toy_encoder():
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Dropout(0.3))
    inputs = {"input_ids": torch.randint(1, 50, (10, 6)), "attention_mask": torch.ones(10, 6, dtype=torch.long)}
    inputs["attention_mask"][::3, 4:] = 0

    def encode(rows):  # (b, L) -> (b, 8) masked mean
        m = rows["attention_mask"].unsqueeze(-1).float()
        return (layer(rows["input_ids"]) * m).sum(1) / m.sum(1)

    def loss_of(emb):
        a, b = emb.chunk(2)
        return info_nce_loss(a, b, 0.1)

    torch.manual_seed(1)
    calls = []
    loss, emb = cached_backward(encode, loss_of, inputs, 3, backward=lambda s: (calls.append(1), s.backward()))
    cached = layer[0].weight.grad.clone()
    assert len(calls) == 4 and emb.shape == (10, 8) and not emb.requires_grad
    layer.zero_grad()
    torch.manual_seed(1)  # the reference: the same mini-batches in the same order, with gradients
    groups = mini_batches(inputs["attention_mask"], 3)
    ref_emb = torch.cat([encode(take_rows(inputs, g)) for g in groups])[torch.argsort(torch.cat(groups))]
    ref = loss_of(ref_emb)
    ref.backward()
    assert torch.allclose(emb, ref_emb.detach(), atol=1e-6) and loss.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(cached, layer[0].weight.grad, atol=1e-7, rtol=1e-5)


def batch_of(trainer, n):
    return trainer.data_collator([trainer.train_dataset[i] for i in range(n)])


def grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def assert_same_grads(got, want, atol=1e-6):  # ~1e-6: sums over all tokens, rounded in another order per call shape
    assert set(got) == set(want) and len(want) > 10
    for name, g in want.items():
        assert torch.allclose(got[name], g, rtol=1e-5, atol=atol), (name, (got[name] - g).abs().max())


@pytest.mark.parametrize("chunk_cost", [0, 256])
def test_cached_step_equals_the_uncached_step_without_dropout(tiny_bert, sentences, tmp_path, chunk_cost):
    trainer, _ = make_trainer(tiny_bert, sentences[:16], tmp_path, pooling="mean", forward_chunk_cost=chunk_cost,
                              mini_batch_size=5, temperature=0.05, dropout=0.0)  # fmt: skip
    batch = batch_of(trainer, 16)  # 32 rows: mini-batches of 5, 5, ..., 2
    trainer.current_gradient_accumulation_steps = 2  # the Trainer divides the loss by its accumulation steps
    cached_loss = trainer.training_step(trainer.model, batch)
    cached = grads(trainer.model)
    trainer.model.zero_grad()
    trainer.args.mini_batch_size = None
    plain_loss = trainer.training_step(trainer.model, batch)  # the Trainer's own step
    assert cached_loss.item() == pytest.approx(plain_loss.item(), rel=1e-5)
    assert 0 < plain_loss.item() < 5 and not cached_loss.requires_grad
    assert_same_grads(cached, grads(trainer.model))
    assert len(trainer._batch_stats["pos_cos"]) == 2  # statistics recorded by both steps, for the log


@pytest.mark.parametrize("randomness", [{"dropout": 0.1}, {"dropout": 0.1, "fast_dropout": True}, {"dropout": 0.0, "drophead": 0.5}],
                         ids=["dropout", "fast_dropout", "drophead"])
def test_cached_step_replays_the_random_masks(tiny_bert, sentences, tmp_path, randomness):
    """Dropout (torch's and mirror.fast_dropout's) and drophead draw their masks from torch's RNG: the second forward of each mini-batch must draw the
    masks the first one drew. The reference encodes each mini-batch with gradients from the state the cached step
    saved (the same seed, the same mini-batches in the same order)."""
    trainer, _ = make_trainer(tiny_bert, sentences[:16], tmp_path, pooling="mean", mini_batch_size=6,
                              temperature=0.05, **randomness)  # fmt: skip
    model, batch = trainer.model, batch_of(trainer, 16)
    model.train()
    trainer.current_gradient_accumulation_steps = 1
    torch.manual_seed(3)
    cached_loss = trainer.training_step(model, batch)
    cached = grads(model)
    model.zero_grad()
    torch.manual_seed(3)
    groups = mini_batches(batch["attention_mask"], 6)
    args = trainer.args  # the reference encodes as the step does: same chunks, packed where the trainer packs
    parts = [forward_pooled(model, take_rows(batch, g), "mean", args.forward_chunk_cost, packed=args.packed_forward) for g in groups]
    emb = torch.cat(parts)[torch.argsort(torch.cat(groups))]  # (32, H)
    ref_loss = info_nce_loss(*emb.chunk(2), 0.05)
    ref_loss.backward()
    assert cached_loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
    assert_same_grads(cached, grads(model))
    torch.manual_seed(3)  # the assert can fail: one forward over all 32 rows draws other masks
    whole = info_nce_loss(*forward_pooled(model, batch, "mean", args.forward_chunk_cost, packed=args.packed_forward).chunk(2), 0.05)
    assert abs(whole.item() - ref_loss.item()) > 1e-4


def test_cached_step_masks_identical_strings_as_the_uncached_step(tiny_bert, tmp_path):
    """Positive pairs whose strings repeat across rows: the collator's string ids reach the cached step's loss
    (the whole batch's, not a mini-batch's), so it equals the uncached step with the same masking."""
    words = "cat dog house tree river stone".split()
    pairs = [(a, b) for a in words for b in words if a != b][:16]  # each word on several rows
    trainer, _ = make_trainer(tiny_bert, None, tmp_path, pooling="mean", mini_batch_size=5, temperature=0.05,
                              dropout=0.0, dataset=TextDataset(pairs=pairs))  # fmt: skip
    batch = batch_of(trainer, 16)
    assert "string_ids" in batch and len(set(batch["string_ids"].tolist())) < 32
    trainer.current_gradient_accumulation_steps = 1
    cached_loss = trainer.training_step(trainer.model, batch)
    cached = grads(trainer.model)
    trainer.model.zero_grad()
    trainer.args.mini_batch_size = None
    plain_loss = trainer.training_step(trainer.model, batch)
    assert cached_loss.item() == pytest.approx(plain_loss.item(), rel=1e-5)
    assert_same_grads(cached, grads(trainer.model))  # a word's embedding row sums ~10 rows' gradients
    unmasked = dict(batch)
    del unmasked["string_ids"]
    trainer.args.mini_batch_size = 5
    assert abs(trainer.training_step(trainer.model, unmasked).item() - cached_loss.item()) > 1e-4  # the ids matter


def test_training_with_the_cached_step_and_gradient_accumulation(tiny_bert, sentences, tmp_path):
    """Two steps of 2 x 8 strings: the cached run ends with the uncached run's weights (dropout 0) and logs the
    same losses and batch statistics."""
    runs = {}
    for mini in (None, 3):
        trainer, enc = make_trainer(tiny_bert, sentences[:32], tmp_path / str(mini), pooling="mean", max_steps=2,
                                    gradient_accumulation_steps=2, mini_batch_size=mini, temperature=0.05,
                                    dropout=0.0)  # fmt: skip
        start = {n: p.detach().clone() for n, p in enc.model.named_parameters()}
        trainer.train()
        assert not torch.equal(start["encoder.layer.0.attention.self.query.weight"],
                               enc.model.encoder.layer[0].attention.self.query.weight)  # fmt: skip
        logs = [h for h in trainer.state.log_history if "loss" in h]
        runs[mini] = (logs, {n: p.detach().clone() for n, p in enc.model.named_parameters()})
    (plain_logs, plain_w), (cached_logs, cached_w) = runs[None], runs[3]
    assert len(cached_logs) == 2 and all("pos_cos" in h and "uniformity" in h for h in cached_logs)
    for a, b in zip(plain_logs, cached_logs):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4) and b["pos_cos"] == pytest.approx(a["pos_cos"], abs=1e-4)
    for name, w in plain_w.items():
        if name.endswith("attention.self.key.bias"):
            # softmax ignores a constant per query, so a key bias's true gradient is 0: what it gets is rounding
            # noise (~1e-7), which AdamW's g / sqrt(v) turns into a step of ~lr either way
            assert cached_w[name].sub(w).abs().max() <= 4 * trainer.args.learning_rate, name
            continue
        assert torch.allclose(cached_w[name], w, rtol=1e-5, atol=1e-6), name


def test_mini_batch_size_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="--mini_batch_size must be >= 1"):
        MirrorConfig(output_dir=str(tmp_path), report_to=[], mini_batch_size=0)
    with pytest.raises(ConfigError, match="ddp_static_graph"):
        MirrorConfig(output_dir=str(tmp_path), report_to=[], mini_batch_size=8, ddp_static_graph=True)


def test_the_cached_step_refuses_what_it_cannot_serve(tiny_bert, sentences, tmp_path):
    with pytest.raises(ConfigError, match="--optim lomo updates the weights inside backward"):
        make_trainer(tiny_bert, sentences[:16], tmp_path, mini_batch_size=4, optim="lomo")
