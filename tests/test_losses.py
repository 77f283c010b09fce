import math

import pytest
import torch
import torch.nn.functional as F

from mirror.losses import info_nce_loss, pair_statistics


def naive_info_nce(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """The paper's loss written out row by row: -log(exp(s_pos) / sum over the 2N-1 other strings)."""
    z = torch.cat([a, b])
    n2 = z.shape[0]
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        pos = (i + n) % n2
        sims = [F.cosine_similarity(z[i], z[j], dim=0) / tau for j in range(n2) if j != i]
        others = torch.stack(sims)
        s_pos = F.cosine_similarity(z[i], z[pos], dim=0) / tau
        total = total - (s_pos - torch.logsumexp(others, dim=0))
    return total / n2


@pytest.mark.parametrize("tau", [0.04, 0.2, 1.0])
def test_matches_a_naive_per_row_loop(tau):
    torch.manual_seed(0)
    a, b = torch.randn(6, 16, dtype=torch.float64), torch.randn(6, 16, dtype=torch.float64)
    assert torch.allclose(info_nce_loss(a, b, tau).double(), naive_info_nce(a, b, tau), atol=1e-5)


def test_identical_embeddings_at_tau_one_give_log_2n_minus_1():
    e = torch.randn(1, 8).repeat(5, 1)
    loss = info_nce_loss(e, e.clone(), 1.0)
    # all 2N strings are the same vector: every logit is cos = 1, so the loss is ln(2N - 1)
    assert math.isclose(loss.item(), math.log(2 * 5 - 1), rel_tol=1e-5)


def test_global_columns_with_offset_equal_the_full_batch_loss():
    """Each shard's loss against the gathered batch, averaged over shards, is the one-process loss."""
    torch.manual_seed(1)
    a, b = torch.randn(8, 16), torch.randn(8, 16)
    full = info_nce_loss(a, b, 0.05)
    shards = [info_nce_loss(a[r * 2 : r * 2 + 2], b[r * 2 : r * 2 + 2], 0.05, a, b, offset=r * 2) for r in range(4)]
    assert torch.allclose(torch.stack(shards).mean(), full, atol=1e-6)
    local_only = torch.stack([info_nce_loss(a[r * 2 : r * 2 + 2], b[r * 2 : r * 2 + 2], 0.05) for r in range(4)])
    assert not torch.allclose(local_only.mean(), full, atol=1e-3)


def test_fp32_under_bf16_inputs_and_autocast():
    torch.manual_seed(2)
    a, b = torch.randn(16, 32), torch.randn(16, 32)
    ref = info_nce_loss(a, b, 0.04)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = info_nce_loss(a.bfloat16(), b.bfloat16(), 0.04)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert torch.allclose(loss, ref, rtol=0.05)


def test_gradient_flows_to_both_copies():
    a = torch.randn(4, 8, requires_grad=True)
    b = torch.randn(4, 8, requires_grad=True)
    info_nce_loss(a, b, 0.1).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_pair_statistics():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    stats = pair_statistics(a, a.clone())
    assert stats["pos_cos"].item() == pytest.approx(1.0)
    assert stats["neg_cos"].item() == pytest.approx(0.0)
    assert stats["alignment"].item() == pytest.approx(0.0)
    # two orthogonal unit vectors: squared distance 2, potential exp(-4)
    assert stats["uniformity"].item() == pytest.approx(-4.0)
