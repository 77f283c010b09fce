"""Helpers for the evaluation tests: a fake deterministic encoder whose cosines are known, and file writers."""

from __future__ import annotations

import hashlib
import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np


class FakeEncoder:
    """Maps known strings to fixed vectors; records every call so tests can check one call per unique list."""

    def __init__(self, vectors: dict[str, list[float]]):
        dim = max(len(v) for v in vectors.values())
        self.vectors = {k: np.pad(np.asarray(v, dtype=np.float32), (0, dim - len(v))) for k, v in vectors.items()}
        self.calls: list[list[str]] = []

    def __call__(self, texts):
        texts = list(texts)
        self.calls.append(texts)
        return np.stack([self.vectors[t] for t in texts])


def angle(degrees: float) -> list[float]:
    rad = math.radians(degrees)
    return [math.cos(rad), math.sin(rad)]


def pair_vectors(prefix: str, cosines: list[float]) -> dict[str, list[float]]:
    """Strings '<prefix>L<i>' and '<prefix>R<i>' whose embeddings have cosine cosines[i]."""
    out = {}
    for i, c in enumerate(cosines):
        out[f"{prefix}L{i}"] = [1.0, 0.0]
        out[f"{prefix}R{i}"] = [c, math.sqrt(1 - c * c)]
    return out


def bag_of_words(texts) -> np.ndarray:
    """A deterministic, model-free sentence encoder: the sum of a fixed random vector per lower-cased word (64
    dims, float32)."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            out[i] += _word_vector(word)
    return out


@lru_cache(maxsize=None)
def _word_vector(word: str) -> np.ndarray:
    return np.random.default_rng(int(hashlib.md5(word.encode()).hexdigest()[:8], 16)).normal(size=64).astype(np.float32)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
