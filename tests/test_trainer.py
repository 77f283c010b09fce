import dataclasses
import json

import pytest
import torch
from transformers import TrainerCallback

from mirror.collator import MirrorCollator
from mirror.config import MirrorConfig
from mirror.data import TextDataset
from mirror.encoder import load_encoder
from mirror.errors import ConfigError, TrainingDivergedError
from mirror.trainer import MirrorTrainer


def make_trainer(model_path, texts, tmp_path, **overrides):
    enc = load_encoder(str(model_path), pooling=overrides.pop("pooling", "cls"), dropout=overrides.pop("dropout", 0.1),
                       drophead=overrides.pop("drophead", 0.0), fast_dropout=overrides.pop("fast_dropout", False),
                       freeze_token_embeddings=overrides.pop("freeze_token_embeddings", False))  # fmt: skip
    run_config = overrides.pop("run_config", {"model": str(model_path)})
    dataset = overrides.pop("dataset", None) or TextDataset(texts)
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
    args = MirrorConfig(**kwargs).for_trainer(enc, run_config)
    collator = MirrorCollator(enc.tokenizer, max_length=32, span_mask_len=5, seed=0)
    trainer = MirrorTrainer(
        model=enc.model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=enc.tokenizer,
    )
    return trainer, enc


def test_settings_come_from_the_config(tiny_bert, sentences, tmp_path):
    trainer, enc = make_trainer(tiny_bert, sentences[:16], tmp_path, pooling="mean")
    assert (trainer.args.pooling, trainer.args.max_seq_length) == ("mean", enc.max_seq_length)
    assert trainer.args.run_config == {"model": str(tiny_bert)} and "run_config" not in trainer.args.to_dict()
    assert trainer.args.push_to_hub is False
    unresolved = MirrorConfig(output_dir=str(tmp_path / "x"), report_to=[])
    with pytest.raises(ConfigError, match="MirrorConfig.for_trainer"):
        MirrorTrainer(model=enc.model, args=unresolved, train_dataset=TextDataset(sentences[:16]),
                      data_collator=MirrorCollator(enc.tokenizer), processing_class=enc.tokenizer)
    with pytest.warns(DeprecationWarning, match="for_trainer"):  # the old keywords, for one release
        old = MirrorTrainer(model=enc.model, args=unresolved, train_dataset=TextDataset(sentences[:16]),
                            data_collator=MirrorCollator(enc.tokenizer), processing_class=enc.tokenizer, pooling="mean")
    assert (old.args.pooling, old.args.max_seq_length, unresolved.pooling) == ("mean", 512, None)
    pushing = dataclasses.replace(trainer.args, push_to_hub=True, hub_dry_run=str(tmp_path / "d"))
    with pytest.raises(ConfigError, match="does not push to the Hub"):
        MirrorTrainer(model=enc.model, args=pushing, train_dataset=TextDataset(sentences[:16]),
                      data_collator=MirrorCollator(enc.tokenizer), processing_class=enc.tokenizer)


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


def _run(tiny_bert, texts, out, dataset):
    trainer, enc = make_trainer(tiny_bert, texts, out, max_steps=5, pooling="mean", dataset=dataset)
    losses, compute_loss = [], trainer.compute_loss

    def recording(*args, **kwargs):
        loss = compute_loss(*args, **kwargs)
        losses.append(loss.item())
        return loss

    trainer.compute_loss = recording
    trainer.train()
    return losses, {n: p.detach().clone() for n, p in enc.model.named_parameters()}


def test_a_pair_run_with_equal_sides_is_the_self_duplication_run(tiny_bert, sentences, tmp_path):
    texts = list(dict.fromkeys(sentences))[:40]  # distinct strings, as load_corpus gives them
    strings = _run(tiny_bert, texts, tmp_path / "strings", TextDataset(texts))
    pairs = _run(tiny_bert, texts, tmp_path / "pairs", TextDataset(pairs=[(t, t) for t in texts]))
    assert len(strings[0]) == 5 and strings[0] == pairs[0]  # the same loss at every step, bit for bit
    assert all(torch.equal(strings[1][n], pairs[1][n]) for n in strings[1])  # and the same weights
    shifted = _run(tiny_bert, texts, tmp_path / "shifted", TextDataset(pairs=list(zip(texts, texts[1:] + texts[:1]))))
    assert shifted[0][0] != strings[0][0]  # other partners: another loss


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


def test_resuming_a_checkpoint_of_other_trained_parameters_is_a_one_line_error(tiny_bert, sentences, tmp_path):
    saving = dict(max_steps=2, save_strategy="steps", save_steps=2)
    trainer, _ = make_trainer(tiny_bert, sentences[:32], tmp_path, **saving)
    trainer.train()
    checkpoint = tmp_path / "run" / "checkpoint-2"
    assert (checkpoint / "optimizer.pt").is_file()
    frozen, enc = make_trainer(tiny_bert, sentences[:32], tmp_path, freeze_token_embeddings=True, **saving)
    trainable = sum(p.requires_grad for p in enc.model.parameters())
    with pytest.raises(ConfigError) as err:
        frozen.train(resume_from_checkpoint=str(checkpoint))
    assert str(err.value) == (
        f"resume_from_checkpoint {checkpoint}: its optimizer state was saved for other trained parameters than this "
        f"model's {trainable} trainable tensors; resume with the freezing it was trained with "
        "(freeze_token_embeddings), or start over"
    )
    same, _ = make_trainer(tiny_bert, sentences[:32], tmp_path, max_steps=4, save_strategy="no")
    assert same.train(resume_from_checkpoint=str(checkpoint)).global_step == 4  # the same setting resumes


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


class InjectNaN(TrainerCallback):
    """Make the encoder's output NaN from step `at` on."""

    def __init__(self, at):
        self.at, self.handle = at, None

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step + 1 == self.at and self.handle is None:
            self.handle = model.embeddings.register_forward_hook(lambda m, i, o: o * float("nan"))


@pytest.mark.parametrize("mini_batch_size", [None, 5])  # the uncached and the cached step
def test_a_nan_loss_stops_training_with_step_and_batch_statistics(tiny_bert, sentences, tmp_path, mini_batch_size):
    trainer, _ = make_trainer(tiny_bert, sentences[:64], tmp_path, max_steps=6, per_device_train_batch_size=8,
                              mini_batch_size=mini_batch_size)  # fmt: skip
    trainer.add_callback(InjectNaN(at=3))
    with pytest.raises(TrainingDivergedError) as exc:
        trainer.train()
    msg = str(exc.value)
    assert "the loss became nan at step 3" in msg and "16 rows x" in msg and "16 of 16 rows not finite" in msg
    assert "lower --learning_rate" in msg


def test_the_default_optimizer_is_the_fused_adamw_and_steps_like_the_unfused_one(tiny_bert, sentences, tmp_path):
    from transformers.training_args import OptimizerNames

    from mirror.config import fused_adamw_supported

    assert fused_adamw_supported("cpu")  # torch >= 2.4
    assert MirrorConfig(output_dir=str(tmp_path), optim="adafactor").optim == OptimizerNames.ADAFACTOR  # kept
    weights = {}
    for optim in (None, "adamw_torch"):  # None: MirrorConfig's default
        trainer, enc = make_trainer(tiny_bert, sentences[:16], tmp_path / str(optim), max_steps=1, pooling="mean",
                                    **({} if optim is None else {"optim": optim}))  # fmt: skip
        before = {n: p.detach().clone() for n, p in enc.model.named_parameters() if p.requires_grad}
        trainer.train()
        expected = OptimizerNames.ADAMW_TORCH_FUSED if optim is None else OptimizerNames.ADAMW_TORCH
        assert trainer.args.optim == expected
        assert bool(trainer.optimizer.defaults.get("fused")) == (optim is None)
        weights[optim] = {n: p.detach().clone() for n, p in enc.model.named_parameters() if n in before}
        assert all(not torch.equal(before[n], weights[optim][n]) for n in before)  # the step moved every weight
    for name in weights[None]:  # one step at lr 1e-3: the same weights to float tolerance
        torch.testing.assert_close(weights[None][name], weights["adamw_torch"][name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mini_batch_size", [None, 5])
def test_bf16_casts_each_weight_once_per_forward_region_across_the_model_calls(
    tiny_bert, sentences, tmp_path, monkeypatch, mini_batch_size
):
    """accelerate wraps only `model.forward` in autocast; the step's forward calls the model once per length chunk,
    so without one region around the whole forward each call re-cast every weight to bf16 (and its gradient back).
    One region per step (the plain step), one per mini-batch and pass (the cached step: 32 rows in mini-batches of
    5, encoded without and then with gradients). The cast of one weight is counted at the dispatcher, below autocast."""
    import math

    from torch.utils._python_dispatch import TorchDispatchMode

    monkeypatch.setattr("mirror.config._has_accelerator", lambda: False)
    monkeypatch.setattr("mirror.config.cpu_has_fast_bf16", lambda: True)
    trainer, enc = make_trainer(tiny_bert, sentences[:16], tmp_path, max_steps=1, pooling="mean", bf16=True,
                                per_device_train_batch_size=16, forward_chunk_cost=1, packed_forward=False,
                                mini_batch_size=mini_batch_size)  # fmt: skip
    query = enc.model.encoder.layer[0].attention.self.query
    calls = []
    query.register_forward_hook(lambda module, args, out: calls.append(out.dtype))

    class CountCasts(TorchDispatchMode):
        casts = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is torch.ops.aten._to_copy.default and kwargs.get("dtype") == torch.bfloat16:
                CountCasts.casts += args[0].data_ptr() == query.weight.data_ptr()
            return func(*args, **kwargs)

    with CountCasts():
        trainer.train()
    regions = 1 if mini_batch_size is None else 2 * math.ceil(2 * 16 / mini_batch_size)
    assert len(calls) > regions and set(calls) == {torch.bfloat16}  # more forward calls than regions, in bf16
    assert CountCasts.casts == regions
