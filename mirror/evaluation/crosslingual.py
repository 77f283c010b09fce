"""Cross-lingual retrieval: bilingual lexicon induction (BLI) and Tatoeba parallel sentence retrieval.

Recognised files (anywhere under a folder):

* BLI dictionaries, `source<TAB>target` per line (a single space also separates, as in MUSE; a source word may
  have several gold targets on several lines):
  MUSE test sets `<src>-<tgt>.5000-6500.txt` ("BLI en-de MUSE"), XLING test sets
  `yacle.test.freq.<size>.<src>-<tgt>.tsv` ("BLI en-de XLING"), and any other file whose dot-separated name has a
  `<src>-<tgt>` part and a `test` part and no `train` part (e.g. VecMap's `en-it.test.txt`, "BLI en-it").
  Training dictionaries (`*.0-5000.txt`, `yacle.train.*`), MUSE's full `<src>-<tgt>.txt` and MUSE_dicos'
  part-of-speech splits are not test sets. The MUSE and XLING names are release names (a file so named that does
  not parse stops the run); the other `*.<src>-<tgt>.*test*` names are caught by a broad pattern, so such a file
  that does not load is skipped with a note.
* BLI train dictionaries, found beside (in the folder of) a test dictionary of the same pair and family: XLING
  `yacle.train.freq.<size>.<src>-<tgt>.tsv` (sizes 500, 1k, 3k, 5k), MUSE `<src>-<tgt>.0-5000.txt`, and for any
  other test name the same name with its `test` part read `train` (`en-it.train.txt`). The largest by default
  (`bli_train_size`), never a test file.
* Tatoeba (LASER layout): `tatoeba.<xx>-<yy>.<xx>` and `tatoeba.<xx>-<yy>.<yy>`, line i of one the translation of
  line i of the other.

BLI: every distinct source word retrieves, among all distinct target words of the dictionary, its nearest
neighbour by cosine (NN) and by CSLS (Conneau et al. 2018, k = 10):
CSLS(x, y) = 2 cos(x, y) - r_T(x) - r_S(y), r_T(x) = mean cosine of x to its k nearest target words,
r_S(y) = mean cosine of y to its k nearest source words of the dictionary. Precision@1 x 100: the share of
source words whose top-1 is one of their gold targets.
Mapped BLI (where a train dictionary is found; the protocol of Mirror-BERT's Table 6, after Glavaš et al. 2019):
each language's words (test and train) normalised apart, an orthogonal map learned on the train pairs and the
source words mapped (`mapping`: Procrustes on unit-centre-unit embeddings), then the same NN and CSLS retrieval
('mapped_nn', 'mapped_csls'). Train pairs whose source word is also a test source word are kept, as released, and
counted ('train_pairs_with_test_source'; XLING's and MUSE's splits share none by construction).
Tatoeba: accuracy x 100 of nearest-neighbour (cosine) retrieval in each direction, by position (LASER and XTREME
report the error rate = 100 - accuracy).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import DataError
from .common import EncodeFn, embed, read_lines, unique
from .discovery import Metric, Task, finish, relative_name, walk_files
from .mapping import normalize, procrustes

__all__ = [
    "Dictionary",
    "ParallelSentences",
    "find_tasks",
    "load_bli_dictionary",
    "load_parallel",
    "score_bli",
    "score_tatoeba",
]

MUSE_TEST = re.compile(r"^(?P<src>[a-z]{2,3})-(?P<tgt>[a-z]{2,3})\.5000-6500\.txt$", re.I)
XLING_TEST = re.compile(r"^yacle\.test\.freq\.[^.]+\.(?P<src>[a-z]{2,3})-(?P<tgt>[a-z]{2,3})\.tsv$", re.I)
MUSE_TRAIN = re.compile(r"^(?P<src>[a-z]{2,3})-(?P<tgt>[a-z]{2,3})\.(?P<size>0-5000)\.txt$", re.I)
XLING_TRAIN = re.compile(r"^yacle\.train\.freq\.(?P<size>[^.]+)\.(?P<src>[a-z]{2,3})-(?P<tgt>[a-z]{2,3})\.tsv$", re.I)
PAIR_TOKEN = re.compile(r"^(?P<src>[a-z]{2,3})[-_](?P<tgt>[a-z]{2,3})$", re.I)
TATOEBA = re.compile(r"^tatoeba\.(?P<a>[a-z_]+)-(?P<b>[a-z_]+)\.(?P<side>[a-z_]+)$", re.I)
TRAIN_NAMES = {"XLING": XLING_TRAIN, "MUSE": MUSE_TRAIN}  # a test family's train file names
CHUNK = 1024
CSLS_K = 10  # neighbours in CSLS's hubness penalty (Conneau et al. 2018)
TRAIN_SIZE = "largest"  # which train dictionary maps: "largest", "none" or a size as in the file name ("5k")


@dataclass
class Dictionary:
    """A bilingual dictionary: parallel lists of (source, target) pairs; a source may have several targets."""

    sources: list[str]
    targets: list[str]
    src_lang: str = ""
    tgt_lang: str = ""
    blank_lines: int = 0
    duplicates: int = 0  # repeated (source, target) lines: kept, they change nothing
    source: str = ""
    train: Dictionary | None = None  # the pair's train dictionary (mapped BLI), if one was found

    def __len__(self) -> int:
        return len(self.sources)

    def gold(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for s, t in zip(self.sources, self.targets):
            out.setdefault(s, set()).add(t)
        return out

    def stats(self) -> dict[str, int]:
        out = {
            "pairs": len(self),
            "source_words": len(set(self.sources)),
            "target_words": len(set(self.targets)),
            "duplicate_lines": self.duplicates,
            "blank_lines": self.blank_lines,
        }
        if self.train is not None:
            out.update(train_pairs=len(self.train), train_pairs_with_test_source=self.train_overlap())
        return out

    def train_overlap(self) -> int:
        """Train pairs whose source word is a source word of this (test) dictionary."""
        test_sources = set(self.sources)
        return sum(s in test_sources for s in self.train.sources) if self.train else 0

    @property
    def notes(self) -> list[str]:
        n = self.train_overlap()
        return [f"{n:,} of {len(self.train):,} train pairs have a test source word: kept, as released"] if n else []

    def content(self) -> tuple:
        return (self.sources, self.targets, self.train.content() if self.train else None)


@dataclass
class ParallelSentences:
    """Aligned sentences: `src[i]` translates `tgt[i]`."""

    src: list[str]
    tgt: list[str]
    src_lang: str = ""
    tgt_lang: str = ""
    source: str = ""

    def __len__(self) -> int:
        return len(self.src)

    def stats(self) -> dict[str, int]:
        return {"pairs": len(self)}

    def content(self) -> tuple:
        return (self.src, self.tgt)


# ---------------------------------------------------------------------------------------------------- loaders


def load_bli_dictionary(
    path: str | os.PathLike, src_lang: str = "", tgt_lang: str = "", train: str | os.PathLike | None = None
) -> Dictionary:
    """`source<TAB>target` lines (or `source target` when a line has no tab); blank lines are skipped (counted).
    `train`: the pair's train dictionary file, loaded the same way into `.train` (for mapped BLI)."""
    lines = read_lines(path, "a bilingual dictionary (source<TAB>target per line)")
    data = Dictionary([], [], src_lang, tgt_lang, source=str(path))
    seen: set[tuple[str, str]] = set()
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            data.blank_lines += 1
            continue
        row = [c.strip() for c in line.strip().split("\t")] if "\t" in line else line.split()
        if len(row) != 2 or not all(row):
            raise DataError(f"{path}, line {line_no}: expected 2 columns (source word, target word), got {len(row)}")
        if (row[0], row[1]) in seen:
            data.duplicates += 1
        seen.add((row[0], row[1]))
        data.sources.append(row[0])
        data.targets.append(row[1])
    if train is not None:
        data.train = load_bli_dictionary(train, src_lang, tgt_lang)
    return data


def load_parallel(
    src_path: str | os.PathLike, tgt_path: str | os.PathLike, src_lang: str = "", tgt_lang: str = ""
) -> ParallelSentences:
    """Two aligned files, one sentence per line (Tatoeba/LASER layout); the line counts must match."""
    src = read_lines(src_path, "one sentence per line")
    tgt = read_lines(tgt_path, "one sentence per line")
    if len(src) != len(tgt):
        raise DataError(f"{tgt_path}: {len(tgt)} lines, but {src_path} has {len(src)}; line i must translate line i")
    if len(src) < 2:
        raise DataError(f"{src_path}: {len(src)} sentence, too few to retrieve from")
    return ParallelSentences(src, tgt, src_lang, tgt_lang, source=f"{src_path} + {tgt_path}")


# ---------------------------------------------------------------------------------------------------- scorers


def _topk_mean(sims: np.ndarray, k: int) -> np.ndarray:
    """(n, m) -> (n,) mean of each row's k largest values."""
    if k >= sims.shape[1]:
        return sims.mean(axis=1)
    return np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)


def _retrieve(S: np.ndarray, T: np.ndarray, gold_idx: list[set[int]], csls_k: int) -> tuple[float, float]:
    """Precision@1 x 100 of NN and CSLS retrieval of rows of S among rows of T (unit rows: dots are cosines)."""
    k_t, k_s = min(csls_k, len(T)), min(csls_k, len(S))
    r_s = np.concatenate([_topk_mean(T[i : i + CHUNK] @ S.T, k_s) for i in range(0, len(T), CHUNK)])  # (n_t,)
    nn_hits = csls_hits = 0
    for i in range(0, len(S), CHUNK):
        sims = S[i : i + CHUNK] @ T.T  # (c, n_t) cosines
        r_t = _topk_mean(sims, k_t)  # (c,)
        nn = sims.argmax(axis=1)  # (c,)
        csls = (2 * sims - r_t[:, None] - r_s[None, :]).argmax(axis=1)  # (c,)
        for row, (a, b) in enumerate(zip(nn, csls)):
            nn_hits += int(a) in gold_idx[i + row]
            csls_hits += int(b) in gold_idx[i + row]
    return 100.0 * nn_hits / len(S), 100.0 * csls_hits / len(S)


def score_bli(encode: EncodeFn, data: Dictionary, csls_k: int = CSLS_K) -> dict[str, float]:
    """Precision@1 x 100 of NN and CSLS retrieval over the dictionary's target words ('nn', 'csls'); with a train
    dictionary (`data.train`) also after the orthogonal map learned on it ('mapped_nn', 'mapped_csls')."""
    gold = data.gold()
    src_words = list(gold)
    tgt_words = list(dict.fromkeys(data.targets))
    if not src_words:
        raise DataError(f"{data.source}: no dictionary pairs")
    train = data.train
    emb, index = embed(encode, src_words + tgt_words + (train.sources + train.targets if train else []))
    S = emb[[index[w] for w in src_words]]  # (n_s, d) unit rows
    T = emb[[index[w] for w in tgt_words]]  # (n_t, d) unit rows
    tgt_index = {w: j for j, w in enumerate(tgt_words)}
    gold_idx = [{tgt_index[t] for t in gold[s]} for s in src_words]
    nn, csls = _retrieve(S, T, gold_idx, csls_k)
    out = {"nn": nn, "csls": csls, "sources": len(src_words), "targets": len(tgt_words)}
    if train is not None:
        # each language's words (test first, then train) normalised together: rows [0, n_s) of X are S's words
        src_vocab, tgt_vocab = unique(src_words + train.sources), unique(tgt_words + train.targets)
        X = normalize(emb[[index[w] for w in src_vocab]])  # (n_src_vocab, d) unit, centred, unit
        Y = normalize(emb[[index[w] for w in tgt_vocab]])  # (n_tgt_vocab, d)
        x_row = {w: i for i, w in enumerate(src_vocab)}
        y_row = {w: i for i, w in enumerate(tgt_vocab)}
        W = procrustes(X[[x_row[w] for w in train.sources]], Y[[y_row[w] for w in train.targets]])  # (d, d)
        mapped_nn, mapped_csls = _retrieve(X[: len(src_words)] @ W, Y[: len(tgt_words)], gold_idx, csls_k)
        out.update(mapped_nn=mapped_nn, mapped_csls=mapped_csls, train_pairs=len(train))
    return out


def _nn_accuracy(queries: np.ndarray, keys: np.ndarray) -> float:
    """Share (x 100) of rows i of `queries` whose nearest row of `keys` (cosine, first on ties) is row i."""
    hits = 0
    for i in range(0, len(queries), CHUNK):
        best = (queries[i : i + CHUNK] @ keys.T).argmax(axis=1)  # (c,)
        hits += int((best == np.arange(i, i + len(best))).sum())
    return 100.0 * hits / len(queries)


def score_tatoeba(encode: EncodeFn, data: ParallelSentences) -> dict[str, float]:
    """Retrieval accuracy x 100 in both directions: '<src>-><tgt>' and '<tgt>-><src>'."""
    emb, index = embed(encode, data.src + data.tgt)
    S = emb[[index[s] for s in data.src]]  # (n, d)
    T = emb[[index[t] for t in data.tgt]]  # (n, d)
    a, b = data.src_lang or "src", data.tgt_lang or "tgt"
    return {f"{a}->{b}": _nn_accuracy(S, T), f"{b}->{a}": _nn_accuracy(T, S), "pairs": len(data)}


# ---------------------------------------------------------------------------------------------------- discovery


def bli_pair(name: str) -> tuple[str, str, str] | None:
    """(src, tgt, family label) for a BLI test dictionary file name, or None."""
    for pattern, label in ((MUSE_TEST, "MUSE"), (XLING_TEST, "XLING")):
        m = pattern.match(name)
        if m:
            return m.group("src").lower(), m.group("tgt").lower(), label
    parts = [p.lower() for p in name.split(".")]
    if "test" in parts and "train" not in parts and parts[-1] in ("txt", "tsv", "dict", "dic"):
        pairs = [PAIR_TOKEN.match(p) for p in parts[:-1]]
        pairs = [m for m in pairs if m]
        if len(pairs) == 1:
            return pairs[0].group("src").lower(), pairs[0].group("tgt").lower(), ""
    return None


def _size(label: str) -> int:
    """A train file's size label as a number of pairs: '5k' -> 5000, '500' -> 500, '0-5000' -> 5000, 'train' -> 0."""
    m = re.search(r"(\d+)(k?)$", label.lower())
    return int(m.group(1)) * (1000 if m.group(2) else 1) if m else 0


def train_dictionaries(test: Path, src: str, tgt: str, label: str) -> dict[str, Path]:
    """{size label: path} of the pair's train dictionaries beside the test dictionary `test` (its folder), of its
    family (`label`, as `bli_pair` gives it). A test dictionary is never one: every name matched here has a
    `train` part, and `bli_pair` takes no such name for a test set."""
    found: dict[str, Path] = {}
    as_train = ["train" if p == "test" else p for p in test.name.lower().split(".")]  # en-it.test.txt: en-it.train.txt
    for path in sorted(test.parent.iterdir()):
        if not path.is_file():
            continue
        pattern = TRAIN_NAMES.get(label)
        m = pattern.match(path.name) if pattern else None
        if m and (m.group("src").lower(), m.group("tgt").lower()) == (src, tgt):
            found[m.group("size").lower()] = path
        elif not label and path.name.lower().split(".") == as_train:
            found["train"] = path
    return found


def pick_train(found: dict[str, Path], size: str) -> Path | None:
    """The train dictionary `size` names: 'largest' (by its size label), 'none' (no map) or a label ('5k')."""
    size = size.lower()
    if size == "none" or not found:
        return None
    if size == "largest":
        return found[max(found, key=_size)]
    return found.get(size)


def find_tasks(data_dir: str | os.PathLike, csls_k: int = CSLS_K, bli_train_size: str = TRAIN_SIZE) -> list[Task]:
    """BLI test dictionaries and Tatoeba pairs below `data_dir`: BLI first (by pair), then Tatoeba. A BLI test
    dictionary with a train dictionary beside it (`train_dictionaries`, `pick_train(.., bli_train_size)`) also
    reports the mapped scores."""
    data_dir = Path(data_dir)
    tasks: list[Task] = []
    tatoeba: dict[tuple[Path, str, str], dict[str, Path]] = {}
    for path in walk_files(data_dir):
        m = TATOEBA.match(path.name)
        if m:
            a, b, side = (m.group(g).lower() for g in ("a", "b", "side"))
            if side in (a, b):
                tatoeba.setdefault((path.parent, a, b), {})[side] = path
            continue
        pair = bli_pair(path.name)
        if pair is None:
            continue
        src, tgt, label = pair
        benchmark = f"BLI {src}-{tgt}" + (f" {label}" if label else "")
        found = train_dictionaries(path, src, tgt, label)
        train = pick_train(found, bli_train_size)
        missing = train is None and bli_train_size != "none"
        metrics = (Metric("nn", " (NN)", "BLI avg (NN)"), Metric("csls", " (CSLS)", "BLI avg (CSLS)"))
        if train is not None:
            metrics += (
                Metric("mapped_nn", " (mapped NN)", "BLI avg (mapped NN)"),
                Metric("mapped_csls", " (mapped CSLS)", "BLI avg (mapped CSLS)"),
            )
        tasks.append(
            Task(
                benchmark=benchmark,
                family="BLI",
                files=(path,) if train is None else (path, train),
                location=path,
                load=partial(load_bli_dictionary, path, src, tgt, train),
                score=partial(score_bli, csls_k=csls_k),
                metrics=metrics,
                order=(0, f"{src}-{tgt}", label),
                notes=(_no_train_note(path, data_dir, found, bli_train_size),) if missing else (),
                optional=not label,  # a name with a test part, not a MUSE/XLING release name: skipped if unreadable
            )
        )
    for (folder, a, b), sides in tatoeba.items():
        for side in (a, b):
            if side not in sides:
                raise DataError(f"{folder / f'tatoeba.{a}-{b}.{side}'}: no such file (the {side} side of {sides[next(iter(sides))]})")
        tasks.append(
            Task(
                benchmark=f"Tatoeba {a}-{b}",
                family="Tatoeba",
                files=(sides[a], sides[b]),
                location=folder,
                load=partial(load_parallel, sides[a], sides[b], a, b),
                score=score_tatoeba,
                metrics=(
                    Metric(f"{a}->{b}", f" ({a}->{b})", "Tatoeba avg"),
                    Metric(f"{b}->{a}", f" ({b}->{a})", "Tatoeba avg"),
                ),
                order=(1, f"{a}-{b}"),
            )
        )
    return finish(tasks, data_dir)


def _no_train_note(test: Path, data_dir: Path, found: dict[str, Path], size: str) -> str:
    sizes = ", ".join(sorted(found, key=_size))
    what = f"no {size} train dictionary (there: {sizes})" if found else "no train dictionary"
    where = relative_name(test, data_dir)
    return f"{where}: {what} beside it: mapped BLI not computed, the mapped averages leave it out"
