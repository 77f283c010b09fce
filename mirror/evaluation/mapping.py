"""The supervised map of mapped BLI: normalise each language's embeddings, learn an orthogonal map on a train
dictionary.

The variant: orthogonal Procrustes on normalised embeddings, i.e. the map of VecMap's supervised
`--orthogonal` mode run with `--normalize unit center unit`, and the PROC baseline of Glavaš et al. (ACL 2019,
whose XLING dictionaries the suite reads):

1. normalisation (Artetxe, Labaka, Agirre, ACL 2018, "embedding normalization"; length normalisation and mean
   centring go back to Artetxe et al., EMNLP 2016): every row of a language's matrix scaled to unit length, each
   dimension centred on its mean over that language's words, every row scaled to unit length again;
2. the map (Xing et al., NAACL 2015, an orthogonal map; the closed form in Artetxe et al. 2016 and Smith et al.,
   ICLR 2017): W = argmin ||X W - Y||_F over orthogonal W is U V^T, where U S V^T = X^T Y is the SVD and X, Y
   hold the normalised source and target rows of the train pairs (row i of X translates row i of Y). The source
   space is mapped (X W), the target space is not; an orthogonal W keeps rows at unit length, so after the map
   dot products are still cosines.

Everything here is a pure function of numpy arrays; `crosslingual.score_bli` decides which words each matrix holds.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["NORMALIZATION", "normalize", "procrustes"]

NORMALIZATION = ("unit", "center", "unit")  # Artetxe et al. 2018


def normalize(emb: np.ndarray, steps: Sequence[str] = NORMALIZATION) -> np.ndarray:
    """(n, d) -> (n, d) float64, the `steps` applied in order: 'unit' scales every row to length 1 (a zero row
    stays zero), 'center' subtracts the mean row (each dimension's mean over the n words)."""
    out = np.array(emb, dtype=np.float64)  # a copy: the caller's array is untouched
    for step in steps:
        if step == "unit":
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)  # (n, d)
        elif step == "center":
            out -= out.mean(axis=0, keepdims=True)  # (n, d) - (1, d)
        else:
            raise ValueError(f"normalisation step {step!r}: expected 'unit' or 'center'")
    return out


def procrustes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n, d), (n, d) aligned rows -> (d, d) orthogonal W minimising ||x W - y||_F: W = U V^T, U S V^T = x^T y."""
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"procrustes needs two (n, d) matrices of one shape, got {x.shape} and {y.shape}")
    u, _, vt = np.linalg.svd(np.asarray(x, np.float64).T @ np.asarray(y, np.float64))  # (d, d), (d,), (d, d)
    return u @ vt  # (d, d)
