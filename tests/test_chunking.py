"""The length-chunk planner: the dynamic programme is optimal, chunks are split to a common count, plans cost
what they say."""

import itertools
import random

import torch

from mirror.chunking import chunked_tokens, length_chunks, plan_chunks, split_chunks


def _padded_tokens(lengths, chunks):
    return sum((end - start) * lengths[start] for start, end in chunks)


def test_length_chunks_cover_the_rows_and_trade_padding_for_calls():
    lengths = [50, 40, 40, 30, 10, 10, 10, 10, 5, 5]
    assert length_chunks(lengths, 0) == [(0, 1), (1, 3), (3, 4), (4, 8), (8, 10)]  # free calls: no padding at all
    assert length_chunks(lengths, 10_000) == [(0, 10)]  # dear calls: one padded forward
    # cost 40: cutting after 50 or before the 5s saves 30 or 10 padded tokens (< 40: no cut); cutting before the
    # 10s saves 7 x 30 - (30 + 6 x 10) = 120 (> 40: cut)
    assert length_chunks(lengths, 40) == [(0, 4), (4, 10)]
    assert length_chunks([5] * 10, 1) == [(0, 10)]
    assert length_chunks([], 5) == []


def test_length_chunks_are_optimal():
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


def test_split_chunks_halves_the_largest_until_the_count_is_reached():
    assert split_chunks([(0, 10), (10, 12)], 4) == [(0, 2), (2, 5), (5, 10), (10, 12)]  # the largest, first
    assert split_chunks([(0, 1), (1, 2)], 5) == [(0, 1), (1, 2)]  # one row per chunk: nothing left to split
    assert split_chunks([(0, 8)], 1) == [(0, 8)]


def test_plan_orders_rows_longest_first_and_counts_its_tokens():
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0]])
    assert plan_chunks(mask, chunk_cost=0) is None  # cost 0: one padded forward, no plan
    order, lengths, chunks = plan_chunks(mask, chunk_cost=1)
    assert order.tolist() == [1, 3, 0, 2] and lengths == [4, 3, 2, 1]
    assert chunks == length_chunks(lengths, 1)
    assert chunked_tokens(mask, 1) == (_padded_tokens(lengths, chunks), len(chunks)) == (12, 2)  # 2x4 + 2x2
    assert chunked_tokens(mask, 0) == (16, 1)  # cost 0: one padded forward, no plan
    assert chunked_tokens(mask, 100) == (16, 1)  # one chunk padded to the longest row
    left_padded = torch.tensor([[0, 1, 1], [1, 1, 1]])
    assert plan_chunks(left_padded, 5) is None  # not right-padded: one plain forward
