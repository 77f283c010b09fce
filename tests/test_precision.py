"""Mixed precision: bf16/fp16 autocast around the encoder, similarities and loss always in fp32."""

import logging

import pytest
import torch

from mirror.collator import MirrorCollator
from mirror.config import MirrorConfig
from mirror.errors import ConfigError
from mirror.losses import info_nce_loss
from mirror.encoder import forward_pooled, load_encoder


def batch_loss(enc, batch, tau=0.04):
    emb = forward_pooled(enc.model, batch, "mean", chunk_cost=1)  # several length chunks
    a, b = emb.chunk(2)
    return info_nce_loss(a, b, tau)


def test_a_bf16_autocast_step_is_finite_and_close_to_fp32(tiny_bert, sentences):
    enc = load_encoder(str(tiny_bert), pooling="mean", dropout=0.0)
    batch = MirrorCollator(enc.tokenizer, span_mask_len=5, seed=0)(sentences[:32])
    ref = batch_loss(enc, batch)
    dtypes = []
    enc.model.encoder.layer[0].attention.self.query.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = batch_loss(enc, batch)
    assert set(dtypes) == {torch.bfloat16}  # the encoder's matrix products really ran in bf16
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert loss.item() == pytest.approx(ref.item(), rel=0.05)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in enc.model.parameters() if p.grad is not None)


def test_fp16_embeddings_at_tau_004_do_not_overflow():
    torch.manual_seed(0)
    a = torch.randn(64, 32)
    b = a + 0.01 * torch.randn(64, 32)  # near-identical pairs: positive logits close to 1 / 0.04 = 25
    assert torch.isinf(torch.exp(torch.tensor(25.0, dtype=torch.float16)))  # why the softmax cannot run in fp16
    loss16 = info_nce_loss(a.half(), b.half(), 0.04)
    assert loss16.dtype == torch.float32 and torch.isfinite(loss16)
    assert loss16.item() == pytest.approx(info_nce_loss(a, b, 0.04).item(), abs=1e-3)


def test_bf16_on_a_cpu_without_native_bf16_falls_back_to_fp32(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr("mirror.config._has_accelerator", lambda: False)
    monkeypatch.setattr("mirror.config.cpu_has_fast_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger="mirror.config"):
        args = MirrorConfig(output_dir=str(tmp_path), bf16=True)
    assert args.bf16 is False and args.use_cpu is True
    assert "--bf16 ignored" in caplog.text


def test_bf16_on_a_cpu_with_native_bf16_autocasts_on_the_cpu(monkeypatch, tmp_path):
    monkeypatch.setattr("mirror.config._has_accelerator", lambda: False)
    monkeypatch.setattr("mirror.config.cpu_has_fast_bf16", lambda: True)
    args = MirrorConfig(output_dir=str(tmp_path), bf16=True)
    assert args.bf16 is True and args.use_cpu is True


def test_fp16_without_a_gpu_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr("mirror.config._has_accelerator", lambda: False)
    with pytest.raises(ConfigError, match="--fp16 needs a GPU"):
        MirrorConfig(output_dir=str(tmp_path), fp16=True)
