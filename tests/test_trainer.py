import json

import pytest
import torch

from mirror.collator import MirrorCollator
from mirror.config import MirrorConfig
from mirror.data import TextDataset
from mirror.modeling import forward_pooled, load_encoder
from mirror.trainer import MirrorTrainer


def make_trainer(model_path, texts, tmp_path, **overrides):
    enc = load_encoder(str(model_path), pooling=overrides.pop("pooling", "cls"), dropout=0.1)
    kwargs = dict(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=8,
        max_steps=10,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=0,
        disable_tqdm=True,
    )
    kwargs.update(overrides)
    args = MirrorConfig(**kwargs)
    collator = MirrorCollator(enc.tokenizer, max_length=32, span_len=5, seed=0)
    trainer = MirrorTrainer(
        model=enc.model,
        args=args,
        train_dataset=TextDataset(texts),
        data_collator=collator,
        processing_class=enc.tokenizer,
        pooling=enc.pooling,
        max_seq_length=enc.max_seq_length,
        run_config={"model": str(model_path)},
    )
    return trainer, enc


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("which", ["tiny_bert", "tiny_roberta"])
def test_chunked_forward_equals_one_padded_forward(which, pooling, request, sentences):
    path = request.getfixturevalue(which)
    enc = load_encoder(str(path), pooling=pooling)
    enc.model.eval()
    collator = MirrorCollator(enc.tokenizer, max_length=50, span_len=5)
    batch = collator(sentences[:40])
    with torch.no_grad():
        one = forward_pooled(enc.model, batch, pooling, chunk_cost=0)
        for cost in (1, 16, 64, 100_000):  # about one chunk per length ... everything in one chunk
            assert torch.allclose(forward_pooled(enc.model, batch, pooling, chunk_cost=cost), one, atol=1e-5)


def _padded_tokens(lengths, chunks):
    return sum((end - start) * lengths[start] for start, end in chunks)


def test_length_chunks_cover_the_rows_and_trade_padding_for_calls():
    from mirror.modeling import length_chunks

    lengths = [50, 40, 40, 30, 10, 10, 10, 10, 5, 5]
    assert length_chunks(lengths, 0) == [(0, 1), (1, 3), (3, 4), (4, 8), (8, 10)]  # free calls: no padding at all
    assert length_chunks(lengths, 10_000) == [(0, 10)]  # dear calls: one padded forward
    # cost 40: cutting after 50 or before the 5s saves 30 or 10 padded tokens (< 40: no cut); cutting before the
    # 10s saves 7 x 30 - (30 + 6 x 10) = 120 (> 40: cut)
    assert length_chunks(lengths, 40) == [(0, 4), (4, 10)]
    assert length_chunks([5] * 10, 1) == [(0, 10)]


def test_length_chunks_are_optimal():
    import itertools
    import random

    from mirror.modeling import length_chunks

    rng = random.Random(0)
    for _ in range(200):
        lengths = sorted((rng.randint(1, 12) for _ in range(rng.randint(1, 9))), reverse=True)
        cost = rng.choice([0, 1, 3, 10, 40])
        chunks = length_chunks(lengths, cost)
        assert chunks[0][0] == 0 and chunks[-1][1] == len(lengths)
        assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
        best = min(  # brute force over every set of cut points
            _padded_tokens(lengths, list(zip((0, *cuts), (*cuts, len(lengths))))) + cost * (len(cuts) + 1)
            for r in range(len(lengths))
            for cuts in itertools.combinations(range(1, len(lengths)), r)
        )
        assert _padded_tokens(lengths, chunks) + cost * len(chunks) == best


def test_chunks_split_to_a_common_count_keep_the_embeddings(tiny_bert, sentences):
    from mirror.modeling import chunked_tokens, split_chunks

    assert split_chunks([(0, 10), (10, 12)], 4) == [(0, 2), (2, 5), (5, 10), (10, 12)]  # the largest, first
    assert split_chunks([(0, 1), (1, 2)], 5) == [(0, 1), (1, 2)]  # one row per chunk: nothing left to split
    enc = load_encoder(str(tiny_bert), pooling="mean")
    enc.model.eval()
    batch = MirrorCollator(enc.tokenizer, max_length=50, span_len=5)(sentences[:40])
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
    collator = MirrorCollator(enc.tokenizer, max_length=50, span_len=5)
    batch = collator(sentences[:24])
    grads = []
    for chunk in (0, 100):
        enc.model.zero_grad()
        forward_pooled(enc.model, batch, "mean", chunk).pow(2).sum().backward()
        grads.append(enc.model.encoder.layer[0].attention.self.query.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-4)


def test_parameters_change_and_loss_falls(tiny_bert, sentences, tmp_path):
    # a random model pools its [CLS] rows almost identically; mean pooling learns within a few dozen steps
    trainer, enc = make_trainer(
        tiny_bert, sentences[:64], tmp_path, max_steps=40, learning_rate=3e-4, pooling="mean", temperature=0.05
    )
    before = {n: p.detach().clone() for n, p in enc.model.named_parameters()}
    trainer.train()
    after = dict(enc.model.named_parameters())
    changed = [n for n in before if not torch.equal(before[n], after[n].detach())]
    frozen = [n for n in before if n.startswith("pooler")]
    assert set(before) - set(changed) == set(frozen)  # every trained weight moved, the unused pooler did not
    logs = [h for h in trainer.state.log_history if "loss" in h]
    losses = [h["loss"] for h in logs]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    for key in ("pos_cos", "neg_cos", "alignment", "uniformity"):
        assert all(key in h for h in logs)
    assert logs[-1]["pos_cos"] > logs[-1]["neg_cos"]


def test_save_writes_pooling_and_run_config_and_is_atomic(tiny_bert, sentences, tmp_path):
    trainer, enc = make_trainer(tiny_bert, sentences[:32], tmp_path, max_steps=2, pooling="mean")
    trainer.train()
    final = trainer.save_encoder(tmp_path / "run" / "final")
    files = {p.relative_to(final).as_posix() for p in final.rglob("*") if p.is_file()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json",
            "sentence_bert_config.json", "mirror_config.json"} <= files
    assert "training_args.bin" not in files
    assert not (tmp_path / "run" / "final.tmp").exists()
    assert json.loads((final / "1_Pooling" / "config.json").read_text())["pooling_mode_mean_tokens"] is True
    assert load_encoder(str(final)).pooling == "mean"
    # saving again replaces the folder only once the new one is complete
    trainer.save_encoder(final)
    assert (final / "model.safetensors").exists() and not (tmp_path / "run" / "final.old").exists()


def test_collator_epoch_follows_the_trainer(tiny_bert, sentences, tmp_path):
    trainer, _ = make_trainer(tiny_bert, sentences[:16], tmp_path, max_steps=-1, num_train_epochs=3)
    seen = []
    collator = trainer.data_collator
    real_call = type(collator).__call__

    def spy(self, features):
        seen.append(self.epoch)
        return real_call(self, features)

    type(collator).__call__ = spy
    try:
        trainer.train()
    finally:
        type(collator).__call__ = real_call
    assert sorted(set(seen)) == [0, 1, 2] and seen == sorted(seen)
