"""Semantic textual similarity: STS-B loader and the cosine-Spearman scorer."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.stats import spearmanr

from ..data import read_utf8
from ..errors import DataError

EncodeFn = Callable[[Sequence[str]], np.ndarray]


@dataclass
class PairData:
    """Sentence pairs with gold similarity scores."""

    sents1: list[str]
    sents2: list[str]
    scores: list[float]

    def __len__(self) -> int:
        return len(self.scores)


def load_stsb(path: str | os.PathLike) -> PairData:
    """STS-B, official release or SentEval copy: tab-separated, no quoting, columns
    genre, file, year, id, score, sentence1, sentence2 [, source1, source2]."""
    text = read_utf8(path)
    rows = csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    data = PairData([], [], [])
    for line_no, row in enumerate(rows, start=1):
        if not row:
            continue
        if len(row) < 7:
            raise DataError(f"{path}, line {line_no}: expected at least 7 tab-separated columns, got {len(row)}")
        try:
            score = float(row[4])
        except ValueError:
            raise DataError(f"{path}, line {line_no}: score {row[4]!r} is not a number") from None
        data.sents1.append(row[5])
        data.sents2.append(row[6])
        data.scores.append(score)
    if not data.scores:
        raise DataError(f"{path}: no sentence pairs")
    return data


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)


def score_sts(encode: EncodeFn, data: PairData) -> dict[str, float]:
    """Spearman x 100 between the cosine of each pair's embeddings and the gold scores."""
    unique = list(dict.fromkeys(data.sents1 + data.sents2))
    index = {s: i for i, s in enumerate(unique)}
    emb = encode(unique)
    cos = cosine_rows(emb[[index[s] for s in data.sents1]], emb[[index[s] for s in data.sents2]])
    return {"spearman": float(spearmanr(cos, data.scores).statistic) * 100, "pairs": len(data)}
