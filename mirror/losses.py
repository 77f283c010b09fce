"""InfoNCE (NT-Xent) over a duplicated batch, as pure functions of embedding tensors.

Notation: a local batch holds n strings and their n augmented copies, `emb_a` (n, H) and `emb_b` (n, H). Under
several processes the global batch holds M = sum of n over ranks; `all_a`, `all_b` (M, H) are the gathered
embeddings and `offset` is where this rank's strings start in them. With one process, all_a = emb_a, offset = 0.

Row i of `emb_a` has its positive at column M + offset + i of the (2n, 2M) similarity matrix (its copy, or its
partner in a batch of positive pairs) and its own column at offset + i (excluded); the remaining 2M - 2 columns are
its negatives. Symmetrically for `emb_b`.

`string_ids` (2M,), optional: an integer id per column, equal ids meaning identical strings (the collator's
`string_ids`, gathered over ranks like the embeddings: [ids of all_a ; ids of all_b]). A column that holds the same
string as the row, other than the row's positive, is excluded too: a string on several rows of a pair corpus is
never its own negative. With no repeated string in the batch (a de-duplicated corpus of single strings) nothing
more is excluded and the loss is the same, bit for bit, as without ids.
Similarities, softmax and loss are computed in fp32 whatever the autocast dtype (tau = 0.04 makes logits up to 25).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _positions(n: int, m: int, offset: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    local = torch.arange(n, device=device) + offset  # (n,) this rank's rows in the global batch
    self_cols = torch.cat([local, local + m])  # (2n,) the column holding each row itself
    pos_cols = torch.cat([local + m, local])  # (2n,) the column holding each row's positive
    return self_cols, pos_cols


def _same_string(string_ids: torch.Tensor, self_cols: torch.Tensor, pos_cols: torch.Tensor) -> torch.Tensor:
    """(2n, 2M) True where a column holds the same string as the row, the row's positive column excepted."""
    row_ids = string_ids[self_cols]  # (2n,) the ids of this rank's rows
    same = row_ids[:, None] == string_ids[None, :]  # (2n, 2M)
    return same & ~F.one_hot(pos_cols, string_ids.shape[0]).bool()  # (2n, 2M)


def similarity_logits(
    emb_a: torch.Tensor,
    emb_b: torch.Tensor,
    temperature: float,
    all_a: torch.Tensor | None = None,
    all_b: torch.Tensor | None = None,
    offset: int = 0,
    string_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(2n, 2M) cosine / temperature logits with each row's own column set to -inf (and, given `string_ids`, every
    other column holding the row's string except its positive), and (2n,) positive columns."""
    with torch.autocast(device_type=emb_a.device.type, enabled=False):
        all_a = emb_a if all_a is None else all_a
        all_b = emb_b if all_b is None else all_b
        n, m = emb_a.shape[0], all_a.shape[0]
        rows = F.normalize(torch.cat([emb_a, emb_b]).float(), dim=-1)  # (2n, H)
        cols = F.normalize(torch.cat([all_a, all_b]).float(), dim=-1)  # (2M, H)
        logits = rows @ cols.T / temperature  # (2n, 2M)
        self_cols, pos_cols = _positions(n, m, offset, logits.device)
        self_mask = F.one_hot(self_cols, 2 * m).bool()  # (2n, 2M) True at each row's own column
        if string_ids is not None:
            self_mask = self_mask | _same_string(string_ids.to(logits.device), self_cols, pos_cols)  # (2n, 2M)
        logits = logits.masked_fill(self_mask, float("-inf"))  # (2n, 2M)
    return logits, pos_cols


def info_nce_loss(
    emb_a: torch.Tensor,
    emb_b: torch.Tensor,
    temperature: float,
    all_a: torch.Tensor | None = None,
    all_b: torch.Tensor | None = None,
    offset: int = 0,
    string_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean InfoNCE over the 2n local rows, each against the 2M - 1 other strings of the (global) batch.

    emb_a, emb_b: (n, H) embeddings of the strings and of their augmented copies (row i of one is the positive of
    row i of the other). all_a, all_b: (M, H) the same gathered over every process (None: one process).
    string_ids: (2M,) integer ids of the columns' strings (see the module docstring); None: no string repeats.
    With identical embeddings at temperature 1 every logit is 1 and the loss is ln(2M - 1).
    """
    logits, pos_cols = similarity_logits(emb_a, emb_b, temperature, all_a, all_b, offset, string_ids)  # (2n, 2M), (2n,)
    with torch.autocast(device_type=emb_a.device.type, enabled=False):
        return F.cross_entropy(logits, pos_cols)  # scalar, fp32


@torch.no_grad()
def pair_statistics(
    emb_a: torch.Tensor, emb_b: torch.Tensor, string_ids: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Diagnostics of a batch (no gradient), each a 0-dim fp32 tensor:

    pos_cos: mean cosine of the positive pairs (a_i, b_i); neg_cos: mean cosine of a_i with b_j, j != i;
    alignment: mean squared distance of normalised positives (Wang & Isola 2020, lower is better);
    uniformity: log of the mean Gaussian potential exp(-2 ||x - y||^2) over distinct strings (lower is better).
    string_ids: (2n,) the local rows' string ids; pairs of identical strings are left out of neg_cos and uniformity.
    """
    a = F.normalize(emb_a.float(), dim=-1)  # (n, H)
    b = F.normalize(emb_b.float(), dim=-1)  # (n, H)
    n = a.shape[0]
    cos = a @ b.T  # (n, n)
    pos = cos.diagonal()  # (n,)
    off_diag = ~torch.eye(n, dtype=torch.bool, device=a.device)  # (n, n)
    off_diag_a = off_diag  # (n, n) pairs (a_i, a_j) of distinct strings
    if string_ids is not None:
        ids_a, ids_b = string_ids.to(a.device).chunk(2)  # (n,), (n,)
        off_diag = off_diag & (ids_a[:, None] != ids_b[None, :])  # (n, n)
        off_diag_a = off_diag_a & (ids_a[:, None] != ids_a[None, :])  # (n, n)
    neg = cos[off_diag]  # (<= n * (n - 1),)
    sq_dist = (2 - 2 * (a @ a.T)).clamp(min=0)[off_diag_a]  # (<= n * (n - 1),) between distinct strings
    zero = torch.zeros((), device=a.device)
    return {
        "pos_cos": pos.mean(),
        "neg_cos": neg.mean() if neg.numel() else zero,
        "alignment": (a - b).pow(2).sum(dim=-1).mean(),
        "uniformity": torch.log(torch.exp(-2 * sq_dist).mean()) if sq_dist.numel() else zero,
    }
