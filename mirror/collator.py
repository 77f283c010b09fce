"""The data collator: duplicate (or pair), mask, tokenize once."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from .masking import mask_rng, span_mask


def string_id(text: str) -> int:
    """A 64-bit id of a string, the same in every process and Python run (unlike `hash`): equal strings, equal ids.

    Two different strings share an id with probability about 2^-64 per pair, far below anything a batch meets."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


@dataclass
class MirrorCollator:
    """Turn N raw strings, or N positive pairs, into one tokenized batch of 2N rows.

    Batch layout (every tensor has 2N rows and L columns, L = the longest row in this batch, at most `max_length`):

        rows [0, N)   the N strings as given (of a pair: its anchor)
        rows [N, 2N)  row i's positive, with a random span of `span_mask_len` characters replaced by the mask
                      token: a copy of string i (self-duplication) or, for a pair, its partner

        string_ids    (2N,) int64, not a model input: `string_id` of each row's string before masking, so equal
                      ids mean identical strings (row i and row N + i of self-duplication share one)

    so row i and row N + i are a positive pair, and every other row is a negative for both, except a row that holds
    the same string (`info_nce_loss` masks those out with `string_ids`; the ids are hashes, so they compare across
    processes once gathered). A de-duplicated corpus of single strings has no such rows.

    Features may be strings or dicts with a "text" key and, for a pair, a "partner" key (what `TextDataset` gives).
    A dict's "idx" (its corpus index) keys the masking RNG to (seed, epoch, idx), which makes masks independent of
    batch order, rank and resumption. Without "idx" the collator draws from its own RNG seeded with `seed`. `epoch` is
    set by `MirrorTrainer` at the start of every epoch so each epoch masks differently.
    """

    tokenizer: PreTrainedTokenizerBase
    max_length: int = 50
    span_mask_len: int = 5
    min_mask_chars: int = 30
    seed: int = 42
    epoch: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self):
        self._rng = random.Random(self.seed)
        if self.span_mask_len > 0 and self.tokenizer.mask_token is None:
            raise ValueError(
                f"span masking needs a mask token, but the tokenizer {type(self.tokenizer).__name__} has none; "
                "set span_mask_len to 0"
            )

    def mask(self, text: str, key: int | None = None) -> str:
        rng = self._rng if key is None else mask_rng(self.seed, self.epoch, key)
        return span_mask(text, self.span_mask_len, self.tokenizer.mask_token, rng, self.min_mask_chars)

    def __call__(self, features: list[Any]) -> dict:
        texts, partners, keys = [], [], []
        for f in features:
            if isinstance(f, str):
                f = {"text": f}
            texts.append(f["text"])
            partners.append(f.get("partner", f["text"]))
            keys.append(f.get("idx"))
        masked = [self.mask(t, k) for t, k in zip(partners, keys)]
        batch = self.tokenizer(
            texts + masked,  # (2N,) strings: anchors, then their (masked) positives
            padding="longest",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        ids = torch.tensor([string_id(t) for t in texts + partners], dtype=torch.long)  # (2N,) before masking
        return {**batch, "string_ids": ids}  # input_ids, attention_mask[, token_type_ids]: (2N, L); string_ids (2N,)
