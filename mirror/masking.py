"""Input augmentation: random span masking, as a pure string function with an explicit RNG."""

from __future__ import annotations

import random


def span_mask(text: str, span_mask_len: int, mask_token: str, rng: random.Random, min_mask_chars: int = 30) -> str:
    """Replace a random run of `span_mask_len` characters of `text` with `mask_token`.

    The span start is drawn uniformly from every position where it fits, and the mask token is set off by single
    spaces as in the original code (`"left [MASK] right"`). The original always wrote a literal `[MASK]`, even for
    RoBERTa; pass `tokenizer.mask_token` instead.

    Left unchanged: `span_mask_len <= 0` (masking off), a text shorter than `min_mask_chars` characters (the original's
    minimum is 30), or a text no longer than the span itself.
    """
    if span_mask_len <= 0 or len(text) < min_mask_chars or len(text) <= span_mask_len:
        return text
    start = rng.randrange(len(text) - span_mask_len + 1)
    left, right = text[:start].rstrip(), text[start + span_mask_len :].lstrip()
    return " ".join(part for part in (left, mask_token, right) if part)


def mask_rng(seed: int, epoch: int, key: int | str) -> random.Random:
    """The RNG for one string's mask: a function of (seed, epoch, key) only.

    Keyed by the string's corpus index, a mask does not depend on batch order, process rank, worker or resume point,
    so N processes, a resumed run and an uninterrupted run all mask string i the same way in a given epoch, and a new
    epoch masks it differently. (Seeding `random.Random` with a str is stable across processes and Python runs.)
    """
    return random.Random(f"mirror:{seed}:{epoch}:{key}")
