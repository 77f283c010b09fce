"""The data collator: duplicate, mask, tokenize once."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from transformers import PreTrainedTokenizerBase

from .masking import mask_rng, span_mask


@dataclass
class MirrorCollator:
    """Turn N raw strings into one tokenized batch of 2N rows.

    Batch layout (every tensor has 2N rows and L columns, L = the longest row in this batch, at most `max_length`):

        rows [0, N)   the N strings as given
        rows [N, 2N)  their copies, each with a random span of `span_mask_len` characters replaced by the mask token

    so row i and row N + i are a positive pair, and every other row is a negative for both.

    Features may be strings or dicts with a "text" key; a dict's "idx" (its corpus index, as `TextDataset` gives)
    keys the masking RNG to (seed, epoch, idx), which makes masks independent of batch order, rank and resumption.
    Without "idx" the collator draws from its own RNG seeded with `seed`. `epoch` is set by `MirrorTrainer` at the
    start of every epoch so each epoch masks differently.
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
        texts, keys = [], []
        for f in features:
            if isinstance(f, str):
                texts.append(f)
                keys.append(None)
            else:
                texts.append(f["text"])
                keys.append(f.get("idx"))
        masked = [self.mask(t, k) for t, k in zip(texts, keys)]
        batch = self.tokenizer(
            texts + masked,  # (2N,) strings: originals, then masked copies
            padding="longest",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return dict(batch)  # input_ids, attention_mask[, token_type_ids]: each (2N, L)
