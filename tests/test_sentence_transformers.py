"""Saved encoders load in sentence-transformers with their pooling, no Normalize module, the same max length and
the same embeddings as `mirror.encode`."""

import numpy as np
import pytest

import mirror
from mirror.encoder import load_encoder

TEXTS = [
    "A man is playing a guitar.",
    "x",
    "Two dogs run along the beach while a child throws a ball into the waves, and the sun sets behind them.",
    "The stock market fell sharply on Monday after the announcement.",
]


@pytest.mark.parametrize("pooling", ["cls", "mean"])
@pytest.mark.parametrize("which", ["tiny_bert", "tiny_roberta"])
def test_sentence_transformer_equals_mirror_encode(which, pooling, request, tmp_path):
    from sentence_transformers import SentenceTransformer

    enc = load_encoder(str(request.getfixturevalue(which)), pooling=pooling)
    enc.max_seq_length = 16  # the long text is truncated: both must cut it at the same length
    enc.save(tmp_path / "enc", run_config={"model": {"pooling": pooling}})
    ours = mirror.encode(mirror.load_encoder(str(tmp_path / "enc")), TEXTS)

    st = SentenceTransformer(str(tmp_path / "enc"), device="cpu")
    assert [type(m).__name__ for m in st] == ["Transformer", "Pooling"]  # read from modules.json, no Normalize
    assert st.max_seq_length == 16
    theirs = st.encode(TEXTS, convert_to_numpy=True)
    assert theirs.shape == ours.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(theirs, ours, atol=1e-5)
    assert not np.allclose(np.linalg.norm(theirs, axis=1), 1.0)  # not normalised behind our back
