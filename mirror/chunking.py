"""The length-chunked forward's plan: which rows of a padded batch run through the encoder together.

Rows do not interact inside an encoder, so a (B, L) batch can be encoded in a few chunks of rows of similar
length, each cut to its own longest row, with the same embeddings and almost no padding. These functions decide
the chunks; `mirror.encoder.forward_pooled` runs them.

* `length_chunks(lengths, chunk_cost)`: the optimal split of rows sorted longest first (dynamic programme).
* `split_chunks(chunks, at_least)`: more chunks, when other processes need more forward calls (DDP/FSDP).
* `plan_chunks(attention_mask, chunk_cost)`: the row order and chunks for a batch, or None for one forward.
* `chunked_tokens(attention_mask, chunk_cost)`: what a plan costs (padded tokens, forward calls), for benchmarks.
"""

from __future__ import annotations

import numpy as np
import torch


def length_chunks(lengths: list[int], chunk_cost: int) -> list[tuple[int, int]]:
    """Split rows sorted longest first into contiguous (start, end) chunks, each padded to its first row's length.

    Minimises padded tokens + `chunk_cost` x number of chunks, exactly, by dynamic programming over the runs of equal
    length (at most max_length of them; one vectorised step per run, so this is cheap). `chunk_cost` is what one
    more forward call is worth in padded tokens: the fixed per-call overhead (operator dispatch, small matrix
    products); `benchmarks/chunking.py` measures the trade.
    """
    lengths_np = np.asarray(lengths, dtype=np.int64)
    if lengths_np.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, lengths_np[1:] != lengths_np[:-1]])  # first row of each run of equal lengths
    ends = np.r_[starts[1:], lengths_np.size]
    width = lengths_np[starts]  # (runs,) the padded width of a chunk that starts at this run
    best = np.zeros(len(starts) + 1, dtype=np.int64)  # best[j]: cheapest split of the first j runs
    cut = np.zeros(len(starts) + 1, dtype=np.int64)
    for j in range(1, len(starts) + 1):  # the last chunk covers runs i..j-1, padded to run i's width
        costs = best[:j] + (ends[j - 1] - starts[:j]) * width[:j] + chunk_cost
        cut[j] = int(np.argmin(costs))
        best[j] = costs[cut[j]]
    chunks, j = [], len(starts)
    while j > 0:
        chunks.append((int(starts[cut[j]]), int(ends[j - 1])))
        j = int(cut[j])
    return chunks[::-1]


def split_chunks(chunks: list[tuple[int, int]], at_least: int) -> list[tuple[int, int]]:
    """Halve the chunk with the most rows until there are `at_least` chunks (or every chunk is one row)."""
    chunks = list(chunks)
    while len(chunks) < at_least:
        i = max(range(len(chunks)), key=lambda c: chunks[c][1] - chunks[c][0])
        start, end = chunks[i]
        if end - start < 2:
            break
        chunks[i : i + 1] = [(start, (start + end) // 2), ((start + end) // 2, end)]
    return chunks


def plan_chunks(
    attention_mask: torch.Tensor, chunk_cost: int
) -> tuple[torch.Tensor, list[int], list[tuple[int, int]]] | None:
    """The length-chunked forward's plan for a (B, L) mask: (row order longest first, sorted lengths, chunks over
    that order), or None for one plain padded forward (chunk_cost 0, or the rows are not right-padded)."""
    mask = attention_mask
    right_padded = bool((mask[:, 1:] <= mask[:, :-1]).all()) if mask.shape[1] > 1 else True
    if chunk_cost <= 0 or not right_padded:
        return None
    lengths = mask.sum(dim=1)  # (B,)
    order = torch.argsort(lengths, descending=True, stable=True)  # (B,) longest first
    sorted_lengths = lengths[order].tolist()
    return order, sorted_lengths, length_chunks(sorted_lengths, chunk_cost)


def chunked_tokens(attention_mask: torch.Tensor, chunk_cost: int) -> tuple[int, int]:
    """(padded tokens the length-chunked forward pushes through the encoder, number of forward calls)."""
    plan = plan_chunks(attention_mask, chunk_cost)
    if plan is None:
        return attention_mask.numel(), 1
    _, lengths, chunks = plan
    return sum((end - start) * lengths[start] for start, end in chunks), len(chunks)
