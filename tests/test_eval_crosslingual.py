"""BLI and Tatoeba: hand-built embeddings whose NN / CSLS / retrieval answers are known, discovery, real counts."""

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import real_benchmarks
from evalkit import FakeEncoder, angle, write

from mirror.errors import DataError
from mirror.evaluation import load_bli_dictionary, load_parallel, score_bli, score_tatoeba
from mirror.evaluation.crosslingual import Dictionary, ParallelSentences, bli_pair, train_dictionaries
from mirror.evaluation.mapping import normalize, procrustes
from mirror.evaluation.suite import discover, load_tasks

# Sources s1 = e1, s2 = e2, s3 = h. The hub h is close to s1 and s2 (cos 0.7): s1's nearest target is h (wrong),
# but CSLS penalises h for being near every source, so s1 retrieves t1. Cosines to (s1, s2, s3):
# h (0.7, 0.7, 1), t1 (0.6, 0.1, 0.49), t2 (0, 0.8, 0.56). With k = 2, r_S(h) = 0.85, r_S(t1) = 0.545,
# r_S(t2) = 0.68; CSLS(s1, .) - const = h 1.4 - 0.85 = 0.55 < t1 1.2 - 0.545 = 0.655.
HUB = [0.7, 0.7, math.sqrt(0.02)]
VECTORS = {
    "s1": [1, 0], "s2": [0, 1], "s3": HUB, "h": HUB,
    "t1": [0.6, 0.1, 0, math.sqrt(1 - 0.37)], "t2": [0, 0.8, 0, 0, 0.6],
}  # fmt: skip


def test_bli_nn_and_csls_by_hand():
    enc = FakeEncoder(VECTORS)
    data = Dictionary(["s1", "s2", "s3"], ["t1", "t2", "h"])
    for k in (2, 10):  # k larger than the vocabulary means all of it
        out = score_bli(enc, data, csls_k=k)
        assert out["nn"] == pytest.approx(200 / 3) and out["csls"] == pytest.approx(100.0)
        assert out["sources"] == 3 and out["targets"] == 3
    assert enc.calls[0] == ["s1", "s2", "s3", "t1", "t2", "h"]  # one call, each string once
    # several gold targets: s1 -> {t1, h}; NN's answer h now counts
    multi = Dictionary(["s1", "s2", "s3", "s1"], ["t1", "t2", "h", "h"])
    assert score_bli(enc, multi, csls_k=2)["nn"] == pytest.approx(100.0)


def test_tatoeba_both_directions_by_hand():
    # a: 0, 60, 120 degrees; b: 10, 100, 110. a->b: all right; b->a: b2 (100) is nearer a3 (120) than a2 (60)
    vectors = {"a1": angle(0), "a2": angle(60), "a3": angle(120), "b1": angle(10), "b2": angle(100), "b3": angle(110)}
    data = ParallelSentences(["a1", "a2", "a3"], ["b1", "b2", "b3"], "fra", "eng")
    out = score_tatoeba(FakeEncoder(vectors), data)
    assert out == {"fra->eng": pytest.approx(100.0), "eng->fra": pytest.approx(200 / 3), "pairs": 3}


def test_dictionary_files_tab_or_space_several_targets(tmp_path):
    data = load_bli_dictionary(write(tmp_path / "en-de.5000-6500.txt", "sandy sandy\nsandy\tsandig\n\nice cream\tEis\nsandy sandy\n"))
    assert data.sources == ["sandy", "sandy", "ice cream", "sandy"] and data.targets == ["sandy", "sandig", "Eis", "sandy"]
    assert data.gold() == {"sandy": {"sandy", "sandig"}, "ice cream": {"Eis"}}
    assert data.blank_lines == 1 and data.duplicates == 1


@pytest.mark.parametrize(
    "text, message",
    [("", "empty file"), ("a\tb\nc\n", "line 2: expected 2 columns"), ("a b\nc d e\n", "line 2: expected 2 columns"), ("a\tb\tc\n", "line 1")],
)
def test_dictionary_errors(tmp_path, text, message):
    with pytest.raises(DataError, match=f"en-de.5000-6500.txt.*{message}"):
        load_bli_dictionary(write(tmp_path / "en-de.5000-6500.txt", text))


def test_parallel_file_errors(tmp_path):
    a = write(tmp_path / "tatoeba.fra-eng.fra", "Bonjour.\nMerci.\n")
    b = write(tmp_path / "tatoeba.fra-eng.eng", "Hello.\n")
    with pytest.raises(DataError, match=r"tatoeba.fra-eng.eng: 1 lines, but .*tatoeba.fra-eng.fra has 2"):
        load_parallel(a, b)
    b.unlink()
    with pytest.raises(DataError, match=r"tatoeba.fra-eng.eng: no such file"):
        discover("crosslingual", tmp_path)


def test_lines_split_only_at_newlines(tmp_path):
    a = write(tmp_path / "tatoeba.deu-eng.deu", "Eins\u2028zwei.\nDrei.\n")  # U+2028 inside a sentence
    b = write(tmp_path / "tatoeba.deu-eng.eng", "One two.\r\nThree.\r\n")
    data = load_parallel(a, b, "deu", "eng")
    assert data.src == ["Eins\u2028zwei.", "Drei."] and data.tgt == ["One two.", "Three."]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("en-de.5000-6500.txt", ("en", "de", "MUSE")),
        ("en-de.0-5000.txt", None),
        ("en-de.txt", None),
        ("en-de.5000-6500.n.txt", None),
        ("yacle.test.freq.2k.en-fi.tsv", ("en", "fi", "XLING")),
        ("yacle.train.freq.5k.en-fi.tsv", None),
        ("en-it.test.txt", ("en", "it", "")),
        ("en-it.train.txt", None),
    ],
)
def test_bli_file_names(name, expected):
    assert bli_pair(name) == expected


# ------------------------------------------------------------------------------------------ mapped BLI


def random_orthogonal(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))  # (d, d), Haar-distributed


def test_procrustes_recovers_a_known_rotation():
    rng = np.random.default_rng(0)
    Q = random_orthogonal(16, rng)
    X = rng.normal(size=(300, 16))
    W = procrustes(X, X @ Q + 0.01 * rng.normal(size=(300, 16)))
    assert W.shape == (16, 16) and np.allclose(W @ W.T, np.eye(16), atol=1e-10)  # orthogonal
    assert np.abs(W - Q).max() < 0.01
    with pytest.raises(ValueError, match="one shape"):
        procrustes(X, X[:10])


def test_normalisation_steps():
    emb = np.array([[3.0, 4.0], [0.0, 2.0], [0.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    unit = normalize(emb, ["unit"])
    assert np.allclose(unit, [[0.6, 0.8], [0, 1], [0, 0], [2**-0.5, 2**-0.5]])  # a zero row stays zero
    centred = normalize(emb, ["center"])
    assert np.allclose(centred, emb - [1.0, 1.75]) and np.allclose(centred.mean(axis=0), 0)
    full = normalize(emb)  # unit, center, unit
    manual = unit - unit.mean(axis=0)
    manual /= np.linalg.norm(manual, axis=1, keepdims=True)
    assert np.allclose(full, manual) and np.allclose(np.linalg.norm(full, axis=1), 1)
    assert not np.allclose(full, normalize(emb, ["center", "unit"]))  # the order of the steps matters
    assert emb[0, 0] == 3.0  # the input is not changed
    with pytest.raises(ValueError, match="'whiten'"):
        normalize(emb, ["whiten"])


def rotated_words(n, d, rng, offset=0):
    """Source words s<i> with random vectors, their translations t<i> = the same vectors rotated by a random Q."""
    Q = random_orthogonal(d, rng)
    vecs = rng.normal(size=(n, d)) + 0.5  # not centred: centring has work to do
    table = {f"s{offset + i}": v for i, v in enumerate(vecs)}
    table.update({f"t{offset + i}": v @ Q + 0.001 * rng.normal(size=d) for i, v in enumerate(vecs)})
    return table, Q


def test_mapped_bli_finds_the_rotation_that_plain_retrieval_misses():
    rng = np.random.default_rng(1)
    table, _ = rotated_words(300, 16, rng)
    words = list(range(300))
    test = Dictionary([f"s{i}" for i in words[:100]], [f"t{i}" for i in words[:100]])
    test.train = Dictionary([f"s{i}" for i in words[100:]], [f"t{i}" for i in words[100:]])
    out = score_bli(lambda ws: np.stack([table[w] for w in ws]), test, csls_k=10)
    assert out["mapped_nn"] == 100.0 and out["mapped_csls"] == 100.0 and out["train_pairs"] == 200
    assert out["nn"] < 10 and out["csls"] < 10  # rotated: about chance (1%) without the map
    without = score_bli(lambda ws: np.stack([table[w] for w in ws]), Dictionary(test.sources, test.targets))
    assert "mapped_nn" not in without and without["nn"] == out["nn"]  # the map adds columns, changes none


def brute_force_mapped(table, test, train, k):
    """Mapped P@1 (NN, CSLS) written out directly: each side's distinct words unit-normalised, centred, unit again;
    W = U V^T from numpy's SVD of X^T Y; the test sources mapped; CSLS with full sorts."""

    def norm_side(words):
        words = sorted(set(words))
        M = np.stack([np.asarray(table[w], np.float64) for w in words])
        M = M / np.linalg.norm(M, axis=1, keepdims=True)
        M = M - M.mean(axis=0)
        return {w: row / np.linalg.norm(row) for w, row in zip(words, M)}

    src = norm_side(test.sources + train.sources)
    tgt = norm_side(test.targets + train.targets)
    X = np.stack([src[w] for w in train.sources])
    Y = np.stack([tgt[w] for w in train.targets])
    U, _, Vt = np.linalg.svd(X.T @ Y)
    W = U @ Vt
    qs, ts = sorted(set(test.sources)), sorted(set(test.targets))
    S = np.stack([src[w] for w in qs]) @ W
    T = np.stack([tgt[w] for w in ts])
    sims = S @ T.T
    r_t = np.sort(sims, axis=1)[:, -k:].mean(1)
    r_s = np.sort(sims.T, axis=1)[:, -k:].mean(1)
    csls = 2 * sims - r_t[:, None] - r_s[None, :]
    gold = test.gold()
    nn = np.mean([ts[j] in gold[w] for w, j in zip(qs, sims.argmax(1))]) * 100
    cs = np.mean([ts[j] in gold[w] for w, j in zip(qs, csls.argmax(1))]) * 100
    return nn, cs


def test_mapped_bli_agrees_with_a_brute_force_computation(tmp_path):
    rng = np.random.default_rng(2)
    table, _ = rotated_words(80, 8, rng)
    shift = {"s": rng.normal(size=8), "t": rng.normal(size=8)}  # each language off centre its own way
    for w in list(table):  # a noisy rotation: the map is only partly right, so the counts are informative
        table[w] = table[w] + 0.6 * rng.normal(size=8) + shift[w[0]]
    test_lines = [f"s{i}\tt{i}" for i in range(30)] + ["s0\tt31", "s1\tt40"]  # several targets; a train target
    train_lines = [f"s{i}\tt{i}" for i in range(30, 80)] + ["s2\tt2"]  # one train source in the test dictionary
    folder = tmp_path / "en-de"
    write(folder / "yacle.test.freq.2k.en-de.tsv", "\n".join(test_lines) + "\n")
    write(folder / "yacle.train.freq.5k.en-de.tsv", "\n".join(train_lines) + "\n")
    (task,) = discover("crosslingual", tmp_path, None, {"csls_k": 5})
    data = task.load()
    out = task.score(lambda ws: np.stack([table[w] for w in ws]), data)
    nn, cs = brute_force_mapped(table, data, data.train, 5)
    assert out["mapped_nn"] == pytest.approx(nn) and out["mapped_csls"] == pytest.approx(cs)
    assert 0 < cs < 100 and out["mapped_csls"] != out["csls"]
    assert data.stats()["train_pairs"] == 51 and data.stats()["train_pairs_with_test_source"] == 1


def test_discovery_pairs_each_test_dictionary_with_its_own_train_dictionary(tmp_path):
    xling = tmp_path / "bli_xling" / "en-fr"
    for name in ("test.freq.2k.en-fr", "test.freq.2k.fr-en", "train.freq.500.en-fr", "train.freq.5k.en-fr",
                 "train.freq.1k.en-fr", "train.freq.5k.de-en"):  # fmt: skip
        write(xling / f"yacle.{name}.tsv", "a\tb\n")
    muse = tmp_path / "muse"
    for name in ("en-de.5000-6500.txt", "en-de.0-5000.txt", "en-de.txt", "de-en.5000-6500.txt", "de-en.test.txt"):
        write(muse / name, "a b\n")
    write(tmp_path / "vecmap" / "en-it.test.txt", "a b\n")
    write(tmp_path / "vecmap" / "en-it.train.txt", "a b\n")
    rel = lambda task: [str(f.relative_to(tmp_path)) for f in task.files]  # noqa: E731
    tasks = {t.name: t for t in discover("crosslingual", tmp_path)}
    assert rel(tasks["BLI en-fr XLING"]) == ["bli_xling/en-fr/yacle.test.freq.2k.en-fr.tsv", "bli_xling/en-fr/yacle.train.freq.5k.en-fr.tsv"]
    assert rel(tasks["BLI en-de MUSE"]) == ["muse/en-de.5000-6500.txt", "muse/en-de.0-5000.txt"]  # not the full en-de.txt
    assert rel(tasks["BLI en-it"]) == ["vecmap/en-it.test.txt", "vecmap/en-it.train.txt"]
    # no train file of their own: the other direction's train file, and the other test files, are not used
    for name in ("BLI fr-en XLING", "BLI de-en MUSE", "BLI de-en"):
        assert len(tasks[name].files) == 1 and [m.key for m in tasks[name].metrics] == ["nn", "csls"], name
        assert any(note.startswith(f"{rel(tasks[name])[0]}: no train dictionary beside it") for note in tasks[name].notes)
    assert [m.key for m in tasks["BLI en-fr XLING"].metrics] == ["nn", "csls", "mapped_nn", "mapped_csls"]
    assert all(bli_pair(f.name) is None for t in tasks.values() for f in t.files[1:])  # a train file is never a test file
    assert sorted(train_dictionaries(xling / "yacle.test.freq.2k.en-fr.tsv", "en", "fr", "XLING")) == ["1k", "500", "5k"]
    one_k = {t.name: t for t in discover("crosslingual", tmp_path, None, {"bli_train_size": "1k"})}
    assert rel(one_k["BLI en-fr XLING"])[1] == "bli_xling/en-fr/yacle.train.freq.1k.en-fr.tsv"
    assert one_k["BLI en-de MUSE"].notes == ("muse/en-de.5000-6500.txt: no 1k train dictionary (there: 0-5000) beside "
                                             "it: mapped BLI not computed, the mapped averages leave it out",)  # fmt: skip
    none = discover("crosslingual", tmp_path, None, {"bli_train_size": "none"})
    assert all(len(t.files) == 1 and not t.notes for t in none)


# ------------------------------------------------------------------------------------------ the real data


REAL_BLI = ("BLI en-de MUSE", "BLI de-en MUSE", "BLI en-es MUSE", "BLI es-en MUSE", "BLI en-de XLING", "BLI en-fr XLING")
REAL_TATOEBA = ("Tatoeba fra-eng", "Tatoeba deu-eng", "Tatoeba rus-eng")


def test_real_crosslingual_files_load_with_their_documented_row_counts():
    found = real_benchmarks("crosslingual", *REAL_BLI, *REAL_TATOEBA)
    for name in REAL_TATOEBA:
        assert {len(data) for _, data in found[name]} == {1000}, name
    for name in REAL_BLI:
        for task, data in found[name]:
            if name.endswith("MUSE"):  # the 5000-6500 test dictionaries: 1,500 source words, 1+ translations each
                assert len(set(data.sources)) == 1500 and len(data) >= 1500, task.name
            else:  # XLING's test dictionaries: 2,000 pairs; the 5k train dictionary beside it shares no source word
                assert len(data) == 2000, task.name
                assert len(data.train) == 5000 and data.train_overlap() == 0, task.name


def test_real_bli_agrees_with_a_brute_force_computation():
    _, data = real_benchmarks("crosslingual", "BLI en-fr XLING")["BLI en-fr XLING"][0]
    rng = np.random.default_rng(0)
    table = {w: rng.normal(size=16) for w in set(data.sources + data.targets + data.train.sources + data.train.targets)}
    out = score_bli(lambda words: np.stack([table[w] for w in words]), data, csls_k=10)
    src = sorted(set(data.sources))
    tgt = sorted(set(data.targets))
    S = np.stack([table[w] / np.linalg.norm(table[w]) for w in src])
    T = np.stack([table[w] / np.linalg.norm(table[w]) for w in tgt])
    sims = S @ T.T
    r_t = np.sort(sims, axis=1)[:, -10:].mean(1)
    r_s = np.sort(sims.T, axis=1)[:, -10:].mean(1)
    csls = 2 * sims - r_t[:, None] - r_s[None, :]
    gold = data.gold()
    nn = np.mean([tgt[j] in gold[w] for w, j in zip(src, sims.argmax(1))]) * 100
    cs = np.mean([tgt[j] in gold[w] for w, j in zip(src, csls.argmax(1))]) * 100
    assert out["nn"] == pytest.approx(nn) and out["csls"] == pytest.approx(cs)
    assert (out["mapped_nn"], out["mapped_csls"]) == pytest.approx(brute_force_mapped(table, data, data.train, 10))


# ------------------------------------------------------------------------------------------ the releases as released

RELEASES = Path(__file__).parent / "fixtures" / "releases"  # each release as it unpacks, a few lines per file (SOURCE.md)


@pytest.mark.parametrize(
    "folder, names",
    [
        ("muse", ["BLI de-en MUSE", "BLI en-de MUSE", "BLI en-vi MUSE"]),  # not <pair>.txt nor .0-5000.txt
        ("xling", ["BLI en-de XLING", "BLI en-fr XLING", "BLI fr-en XLING"]),  # not yacle.train.*
        ("tatoeba", ["Tatoeba cmn-eng", "Tatoeba deu-eng", "Tatoeba fra-eng"]),
    ],
)
def test_release_discovery_finds_exactly_its_benchmarks(folder, names):
    tasks = discover("crosslingual", RELEASES / folder)
    assert [t.name for t in tasks] == names
    assert not any(t.optional for t in tasks)  # release names: a malformed file is an error, not a skip


def test_release_dictionaries_space_or_tab_and_tatoeba():
    muse = RELEASES / "muse" / "dictionaries"
    en_de = load_bli_dictionary(muse / "en-de.5000-6500.txt")  # European pair: space-separated
    assert en_de.gold() == {
        "convention": {"konvention", "übereinkommen"}, "explained": {"erklärt", "erklärte"}, "sandy": {"sandy", "sandigen"},
    }  # fmt: skip
    assert load_bli_dictionary(muse / "en-vi.5000-6500.txt").targets == ["công_ước", "hội_nghị", "giải_thích", "cát"]  # tab
    assert load_bli_dictionary(muse / "de-en.5000-6500.txt").gold()["erklärte"] == {"explained,", "explained"}  # as released
    xling = load_bli_dictionary(RELEASES / "xling" / "bli_datasets" / "en-fr" / "yacle.test.freq.2k.fr-en.tsv")
    assert xling.sources == ["dévouement", "désirs", "rejeté", "psychique"] and xling.targets[0] == "dedication"
    folder = RELEASES / "tatoeba" / "v1"
    cmn = load_parallel(folder / "tatoeba.cmn-eng.cmn", folder / "tatoeba.cmn-eng.eng", "cmn", "eng")
    assert len(cmn) == 5 and cmn.src[0] == "我們試試看！" and cmn.tgt[0] == "Let's have a look."


def test_releases_evaluate_end_to_end(tiny_bert):
    from mirror.evaluation.suite import evaluate_suite

    table, meta = evaluate_suite("crosslingual", [str(tiny_bert)], RELEASES, log=lambda msg: None)
    bli = ["de-en MUSE", "en-de MUSE", "en-de XLING", "en-fr XLING", "en-vi MUSE", "fr-en XLING"]
    mapped = {"en-de MUSE", "en-de XLING", "en-fr XLING", "fr-en XLING"}  # a train dictionary lies beside these
    pairs = [("cmn", "eng"), ("deu", "eng"), ("fra", "eng")]
    metrics = lambda b: ("NN", "CSLS", "mapped NN", "mapped CSLS") if b in mapped else ("NN", "CSLS")  # noqa: E731
    assert list(table.columns) == [
        *(f"BLI {b} ({m})" for b in bli for m in metrics(b)),
        *(f"Tatoeba {a}-{b} ({x}->{y})" for a, b in pairs for x, y in ((a, b), (b, a))),
        "BLI avg (NN)", "BLI avg (CSLS)", "BLI avg (mapped NN)", "BLI avg (mapped CSLS)", "Tatoeba avg",
    ]  # fmt: skip
    assert table.notna().all(axis=None)
    assert [t["pairs"] for t in meta["tasks"]] == [5, 6, 4, 4, 4, 4, 5, 5, 5]
    assert meta["notes"] == [
        f"muse/dictionaries/{pair}.5000-6500.txt: no train dictionary beside it: mapped BLI not computed, the mapped "
        "averages leave it out"
        for pair in ("de-en", "en-vi")
    ]


def test_an_unreadable_broad_dictionary_name_is_skipped_but_a_muse_name_is_an_error(tmp_path):
    write(tmp_path / "vecmap" / "en-it.test.txt", "cane\tdog\tnoun\n")  # a `test` part and a pair: a broad pattern
    write(tmp_path / "muse" / "en-de.5000-6500.txt", "sandy sandy\n")
    loaded, notes = load_tasks(discover("crosslingual", tmp_path), tmp_path)
    assert [t.name for t, _ in loaded] == ["BLI en-de MUSE"]
    assert notes == [
        "muse/en-de.5000-6500.txt: no train dictionary beside it: mapped BLI not computed, the mapped averages leave it out",
        "vecmap/en-it.test.txt: not read as BLI en-it, skipped "
        "(vecmap/en-it.test.txt, line 1: expected 2 columns (source word, target word), got 3)"
    ]
    write(tmp_path / "muse" / "en-de.5000-6500.txt", "sandy sandy\nice cream Eis\n")
    with pytest.raises(DataError, match=r"en-de.5000-6500.txt, line 2: expected 2 columns"):
        load_tasks(discover("crosslingual", tmp_path), tmp_path)
