"""Pieces every evaluator shares: strict line readers, number parsing, cosine, Spearman, an embedding cache.

Spearman comes from `scipy.stats.spearmanr`. `evaluate` can load a metric script that ships in the repository
while HF_HUB_OFFLINE=1 (checked: `evaluate.load("path/to/metric.py")` works offline), but each load imports
`datasets`, copies the script into the HF modules cache and every `compute` goes through an Arrow table, while its
own `spearmanr` metric calls the same scipy function; the scorers here call scipy directly.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Callable, Sequence

import numpy as np
from scipy.stats import spearmanr

from ..data import read_utf8
from ..errors import DataError

EncodeFn = Callable[[Sequence[str]], np.ndarray]


def read_lines(path: str | os.PathLike, expected: str) -> list[str]:
    """The lines of a UTF-8 text file, without line terminators (LF or CRLF).

    Only "\\n" ends a line: `str.splitlines` would also split at U+2028, U+0085 or form feeds inside a sentence and
    misalign files whose line i must match line i of another file. A missing, empty or non-UTF-8 file is a
    `DataError` naming the file (and line, for bad bytes); `expected` says what the file should hold.
    """
    text = read_utf8(path)
    if not text.strip():
        raise DataError(f"{path}: empty file, expected {expected}")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def parse_score(value: str, path: str | os.PathLike, line_no: int, what: str = "score") -> float:
    """A finite float, or a `DataError` naming file, line and the offending value."""
    try:
        score = float(value)
    except ValueError:
        raise DataError(f"{path}, line {line_no}: {what} {value!r} is not a number") from None
    if not math.isfinite(score):
        raise DataError(f"{path}, line {line_no}: {what} {value!r} is not a finite number")
    return score


def unique(strings: Sequence[str]) -> list[str]:
    """Distinct strings in first-seen order (what one encode call gets)."""
    return list(dict.fromkeys(strings))


def embed(encode: EncodeFn, strings: Sequence[str]) -> tuple[np.ndarray, dict[str, int]]:
    """Encode the distinct strings once: (n_unique, d) float32 unit rows and a string -> row index map."""
    texts = unique(strings)
    emb = np.asarray(encode(texts), dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(texts):
        raise ValueError(f"encode returned shape {emb.shape} for {len(texts)} strings, expected ({len(texts)}, d)")
    return unit_rows(emb), {s: i for i, s in enumerate(texts)}


def unit_rows(emb: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), so dot products are cosines."""
    emb = np.asarray(emb, dtype=np.float32)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, d), (n, d) -> (n,) cosine of row i of a with row i of b."""
    return (unit_rows(a) * unit_rows(b)).sum(axis=1)


def spearman100(predicted: Sequence[float], gold: Sequence[float]) -> float:
    """Spearman's rank correlation x 100 (average ranks for ties); NaN if either side is constant."""
    if len(gold) < 2:
        raise ValueError(f"Spearman needs at least 2 scored pairs, got {len(gold)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns (and returns NaN) on constant input
        rho = spearmanr(np.asarray(predicted, dtype=np.float64), np.asarray(gold, dtype=np.float64)).statistic
    return float(rho) * 100.0


class CachedEncoder:
    """An encode function that embeds each distinct string once per model and run.

    Benchmarks share strings (the same English words across BLI pairs, STS-B sentences that recur in SICK or STS12),
    so a run keeps every embedding it computed; only strings it has not seen reach the wrapped encode function,
    in one call per request.
    """

    def __init__(self, encode: EncodeFn):
        self._encode = encode
        self._cache: dict[str, np.ndarray] = {}
        self.calls = 0
        self.encoded = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        missing = [t for t in unique(texts) if t not in self._cache]
        if missing:
            emb = np.asarray(self._encode(missing), dtype=np.float32)
            if emb.ndim != 2 or emb.shape[0] != len(missing):
                raise ValueError(f"encode returned shape {emb.shape} for {len(missing)} strings")
            self._cache.update(zip(missing, emb))
            self.calls += 1
            self.encoded += len(missing)
        if not texts:
            dim = next(iter(self._cache.values())).shape[0] if self._cache else 0
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])
