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


def naive_masked_info_nce(a, b, tau, strings):
    """The loss written out row by row, with every other row holding the row's own string left out of the sum."""
    z = torch.cat([a, b])
    n2 = z.shape[0]
    total = 0.0
    for i in range(n2):
        pos = (i + n2 // 2) % n2
        keep = [j for j in range(n2) if j != i and (j == pos or strings[j] != strings[i])]
        sims = torch.stack([F.cosine_similarity(z[i], z[j], dim=0) / tau for j in keep])
        s_pos = F.cosine_similarity(z[i], z[pos], dim=0) / tau
        total = total - (s_pos - torch.logsumexp(sims, dim=0))
    return total / n2


# four pairs of a dictionary: "Haus" is the partner of two rows, "Hotel" is a partner and an anchor
PAIRS = [("house", "Haus"), ("home", "Haus"), ("hotel", "Hotel"), ("Hotel", "hotel")]
STRINGS = [a for a, _ in PAIRS] + [b for _, b in PAIRS]


def _ids(strings):
    index = {s: k for k, s in enumerate(dict.fromkeys(strings))}
    return torch.tensor([index[s] for s in strings])


def _embeddings(strings, noise=0.3):
    """(a, b) with rows of one string close together, as dropout leaves identical strings."""
    ids = _ids(strings)
    base = torch.randn(int(ids.max()) + 1, 16, dtype=torch.float64)
    z = base[ids] + noise * torch.randn(len(strings), 16, dtype=torch.float64)
    return z.chunk(2)


@pytest.mark.parametrize("tau", [0.05, 1.0])
def test_identical_strings_are_not_negatives_naive_loop(tau):
    torch.manual_seed(3)
    a, b = _embeddings(STRINGS)
    ids = _ids(STRINGS)
    masked = info_nce_loss(a, b, tau, string_ids=ids)
    assert torch.allclose(masked.double(), naive_masked_info_nce(a, b, tau, STRINGS), atol=1e-5)
    assert not torch.allclose(masked, info_nce_loss(a, b, tau), atol=1e-3)  # the masking changed the loss


def test_the_logits_of_identical_strings_are_minus_inf_and_only_those():
    from mirror.losses import similarity_logits

    torch.manual_seed(4)
    a, b = torch.randn(4, 8), torch.randn(4, 8)
    logits, pos = similarity_logits(a, b, 0.1, string_ids=_ids(STRINGS))
    expected = torch.tensor(
        [[j == i or (STRINGS[j] == STRINGS[i] and j != (i + 4) % 8) for j in range(8)] for i in range(8)]
    )
    assert torch.equal(torch.isinf(logits), expected)
    # besides the 8 own columns: Haus (rows 4, 5) and hotel (2, 7) and Hotel (3, 6), each pair both ways
    assert int(expected.sum()) == 8 + 6 and expected[4, 5] and expected[2, 7] and expected[6, 3]
    assert torch.isfinite(logits[torch.arange(8), pos]).all()  # the positive stays, even where it is the same string


def test_a_self_duplication_batch_is_unchanged_bit_for_bit():
    torch.manual_seed(5)
    a, b = torch.randn(16, 32), torch.randn(16, 32)
    ids = torch.arange(16).repeat(2)  # string i and its copy share an id; no other row repeats it
    assert torch.equal(info_nce_loss(a, b, 0.04, string_ids=ids), info_nce_loss(a, b, 0.04))
    stats, ref = pair_statistics(a, b, ids), pair_statistics(a, b)
    assert all(torch.equal(stats[k], ref[k]) for k in ref)


def test_masking_across_shards_equals_the_full_batch_masking():
    """Under several processes the ids are gathered like the embeddings: [ids of all a ; ids of all b]."""
    torch.manual_seed(6)
    a, b = torch.randn(4, 16), torch.randn(4, 16)
    ids = _ids(STRINGS)
    full = info_nce_loss(a, b, 0.05, string_ids=ids)
    shards = [info_nce_loss(a[r * 2 : r * 2 + 2], b[r * 2 : r * 2 + 2], 0.05, a, b, r * 2, ids) for r in range(2)]
    assert torch.allclose(torch.stack(shards).mean(), full, atol=1e-6)
    assert not torch.allclose(torch.stack(shards).mean(), info_nce_loss(a, b, 0.05), atol=1e-3)


def test_pair_statistics_leave_identical_strings_out():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # rows 0 and 1: the same string "x"
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    ids = torch.tensor([0, 0, 1, 0, 0, 1])
    stats = pair_statistics(a, b, ids)
    assert stats["neg_cos"].item() == pytest.approx(0.0)  # only x with the orthogonal y counts
    assert pair_statistics(a, b)["neg_cos"].item() == pytest.approx(2 / 6)
    assert stats["uniformity"].item() == pytest.approx(-4.0)
