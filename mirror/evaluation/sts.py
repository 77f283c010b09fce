"""Semantic textual similarity: STS12-16 (SentEval layout), STS-B and SICK-R; Spearman x 100 of cosine similarity.

Loaders return `PairData` (three parallel lists) or `StsYear` (the subsets of one STS year); scorers take an
`encode(list[str]) -> (n, d) array` function and return a flat dict. Recognised files (anywhere under a folder):

* STS12-16, SentEval layout: `STS.input.<subset>.txt` (tab-separated; the first two columns are the sentences,
  STS16's raw source columns are ignored) with `STS.gs.<subset>.txt` (one score per line; a blank line = an
  unscored pair, dropped and counted). The raw STS16 names `STS2016.input/gs.<subset>.txt` too. All subsets in one
  folder form one year; the year comes from the file prefix (`STS2016`), from the nearest folder naming it
  (`STS13-en-test`, `sts15`, `sts-en-test-gs-2014`) or, failing that, from the set of subset names.
  `STS.gs.ALL.txt` (STS12's concatenation) and STS13's `STS.gs.SMT.txt` (its sentences are licensed by LDC, not
  shipped) have no input file: they are not subsets (noted). Never read: the baseline outputs `STS.output.*`, the
  perl scorers, STS16's `.ascii` copies of its inputs, the archives and licence notes the releases ship.
* STS-B: `sts-test.csv`, official release (7 or 9 columns) or SentEval copy (7), read with no quoting.
* SICK-R: `SICK_test_annotated.txt` (SemEval-2014 split, header optional) and the 12-column full release
  (`SICK.txt` / `SICK_annotated.txt`, header with `SemEval_set`; rows of the TEST set).

Every name above is a release name: a file so named that does not parse stops the run with an error naming the
file and line (see `discovery` for the files that are skipped instead). Lines end in LF or CRLF, a UTF-8 BOM is
dropped, a missing newline after the last line is fine.

STS12-16 are scored two ways: "all" = one Spearman over the pairs of all subsets of the year concatenated (the
Mirror-BERT/SimCSE protocol) and "wmean" = the subsets' Spearman averaged with weights = scored pairs per subset
(SentEval's "wmean").
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import DataError
from .common import EncodeFn, cosine_rows, embed, parse_score, read_lines, spearman100
from .discovery import Metric, Task, finish, walk_files

__all__ = [
    "PairData",
    "StsYear",
    "cosine_rows",
    "find_tasks",
    "load_sick",
    "load_stsb",
    "load_sts_subset",
    "load_sts_year",
    "score_sts",
    "score_sts_year",
]

STS_INPUT = re.compile(r"^(?P<prefix>STS(?:\d{4})?)\.input\.(?P<subset>.+)\.txt$", re.I)
STSB_TEST = re.compile(r"^sts-test\.csv$", re.I)
SICK_SPLIT_TEST = re.compile(r"^sick_test_annotated\.txt$", re.I)
SICK_FULL = re.compile(r"^sick(_annotated)?\.txt$", re.I)
YEAR_IN_PREFIX = re.compile(r"^STS20(\d\d)$", re.I)
YEAR_IN_DIR = re.compile(r"sts[-_ ]?(?:20)?(1[2-7])(?!\d)", re.I)
YEAR_ANYWHERE = re.compile(r"(?<!\d)20(1[2-7])(?!\d)")
# SentEval's subsets per year (STS13 SMT is licensed and usually absent): used only when no folder names the year.
SUBSETS_BY_YEAR = {
    "12": {"MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"},
    "13": {"FNWN", "headlines", "OnWN", "SMT"},
    "14": {"deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news"},
    "15": {"answers-forums", "answers-students", "belief", "headlines", "images"},
    "16": {"answer-answer", "headlines", "plagiarism", "postediting", "question-question"},
}


@dataclass
class PairData:
    """Sentence pairs with gold similarity scores (scored pairs only)."""

    sents1: list[str]
    sents2: list[str]
    scores: list[float]
    unscored: int = 0  # pairs the format marks as unscored (blank gold line), dropped
    blank_lines: int = 0  # empty lines skipped
    other_split: int = 0  # full-release SICK rows of TRAIN/TRIAL, not part of the test set
    source: str = ""

    def __len__(self) -> int:
        return len(self.scores)

    def stats(self) -> dict[str, int]:
        out = {"pairs": len(self), "blank_lines": self.blank_lines}
        if self.unscored:
            out["unscored"] = self.unscored
        if self.other_split:
            out["other_split_rows"] = self.other_split
        return out

    def content(self) -> tuple:
        return (self.sents1, self.sents2, self.scores)


@dataclass
class StsYear:
    """The subsets of one STS year (STS12 ... STS16), each a `PairData`."""

    name: str
    subsets: dict[str, PairData] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # gold files without an input file (e.g. STS.gs.ALL.txt)

    def __len__(self) -> int:
        return sum(len(d) for d in self.subsets.values())

    @property
    def unscored(self) -> int:
        return sum(d.unscored for d in self.subsets.values())

    def stats(self) -> dict:
        return {
            "subsets": len(self.subsets),
            "pairs": len(self),
            "unscored": self.unscored,
            "pairs_per_subset": {name: len(d) for name, d in self.subsets.items()},
            "unscored_per_subset": {name: d.unscored for name, d in self.subsets.items()},
        }

    def content(self) -> tuple:
        return tuple((name, d.content()) for name, d in self.subsets.items())


# ---------------------------------------------------------------------------------------------------- loaders


def load_stsb(path: str | os.PathLike) -> PairData:
    """STS-B, official release or SentEval copy: tab-separated, no quoting (sentences contain `"`), columns
    genre, file, year, id, score, sentence1, sentence2 [, source1, source2]."""
    lines = read_lines(path, "STS-B pairs (genre, file, year, id, score, sentence1, sentence2)")
    data = PairData([], [], [], source=str(path))
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            data.blank_lines += 1
            continue
        row = line.split("\t")
        if len(row) < 7:
            raise DataError(f"{path}, line {line_no}: expected at least 7 tab-separated columns, got {len(row)}")
        data.scores.append(parse_score(row[4].strip(), path, line_no))
        data.sents1.append(row[5])
        data.sents2.append(row[6])
    if not data.scores:
        raise DataError(f"{path}: no sentence pairs")
    return data


SICK_SPLIT_COLUMNS = {5: (1, 2, 3, None), 12: (1, 2, 4, 11)}  # (sentence_A, sentence_B, score, SemEval_set)


def load_sick(path: str | os.PathLike, split: str = "TEST") -> PairData:
    """SICK-R: a SemEval-2014 split file (`pair_ID, sentence_A, sentence_B, relatedness_score,
    entailment_judgment`, header optional) or the 12-column full release, whose `SemEval_set` column picks the
    rows of `split` (the rows of other splits are counted in `other_split`)."""
    lines = read_lines(path, "SICK pairs (pair_ID, sentence_A, sentence_B, relatedness_score, ...)")
    first = [c.strip() for c in lines[0].split("\t")]
    if "relatedness_score" in first:
        for needed in ("sentence_A", "sentence_B"):
            if needed not in first:
                raise DataError(f"{path}, line 1: header has no '{needed}' column: {first}")
        cols = (first.index("sentence_A"), first.index("sentence_B"), first.index("relatedness_score"))
        set_col = first.index("SemEval_set") if "SemEval_set" in first else None
        width, start = len(first), 2
    elif len(first) in SICK_SPLIT_COLUMNS:
        *cols, set_col = SICK_SPLIT_COLUMNS[len(first)]
        width, start = len(first), 1
    else:
        raise DataError(
            f"{path}, line 1: expected a header with 'relatedness_score', or 5 (split file) or 12 (full release) "
            f"tab-separated columns, got {len(first)}"
        )
    a, b, s = cols
    data = PairData([], [], [], source=str(path))
    for line_no, line in enumerate(lines[start - 1 :], start=start):
        if not line.strip():
            data.blank_lines += 1
            continue
        row = line.split("\t")
        if len(row) != width:
            raise DataError(f"{path}, line {line_no}: expected {width} tab-separated columns, got {len(row)}")
        if set_col is not None and row[set_col].strip().upper() != split.upper():
            data.other_split += 1
            continue
        data.scores.append(parse_score(row[s].strip(), path, line_no, "relatedness score"))
        data.sents1.append(row[a])
        data.sents2.append(row[b])
    if not data.scores:
        raise DataError(f"{path}: no {split} pairs" if set_col is not None else f"{path}: no sentence pairs")
    return data


def _trim_trailing_blank(lines: list[str], length: int) -> list[str]:
    """Blank lines past `length` at the end of a file (an extra newline) correspond to no pair: drop them."""
    if len(lines) > length and not any(line.strip() for line in lines[length:]):
        return lines[:length]
    return lines


def load_sts_subset(input_path: str | os.PathLike, gold_path: str | os.PathLike) -> PairData:
    """One STS subset: line i of the gold file scores the sentence pair on line i of the input file.
    A blank gold line marks an unscored pair: it is dropped (its input line is not read) and counted."""
    gold = read_lines(gold_path, "one gold score per line (a blank line = unscored pair)")
    pairs = read_lines(input_path, "tab-separated sentence pairs")
    gold, pairs = _trim_trailing_blank(gold, len(pairs)), _trim_trailing_blank(pairs, len(gold))
    if len(gold) != len(pairs):
        raise DataError(
            f"{gold_path}: {len(gold)} lines, but {input_path} has {len(pairs)}; line i of the gold file must "
            "score line i of the input file"
        )
    data = PairData([], [], [], source=str(input_path))
    for line_no, (pair, score) in enumerate(zip(pairs, gold), start=1):
        score = score.strip()
        if not score:
            data.unscored += 1
            continue
        value = parse_score(score, gold_path, line_no, "gold score")
        row = pair.split("\t")
        if len(row) < 2:
            raise DataError(f"{input_path}, line {line_no}: expected 2 tab-separated sentences, got {len(row)} column")
        data.sents1.append(row[0])
        data.sents2.append(row[1])
        data.scores.append(value)
    if len(data) < 2:
        raise DataError(f"{gold_path}: {len(data)} scored pairs, too few for a correlation")
    return data


def sts_inputs(directory: Path) -> list[tuple[str, Path, Path]]:
    """(subset, input file, gold file) for every `STS*.input.<subset>.txt` in `directory`; a missing gold file is
    an error naming the file expected."""
    found = []
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        m = STS_INPUT.match(path.name)
        if not m:
            continue
        candidates = _gold_candidates(path)
        gold = next((c for c in candidates if c.is_file()), None)
        if gold is None:
            raise DataError(f"{candidates[0]}: no such file (the gold scores for {path})")
        found.append((m.group("subset"), path, gold))
    return found


def _gold_candidates(input_path: Path) -> list[Path]:
    """Where the gold file of `STS[YYYY].input.<subset>.txt` may be: `STS[YYYY].gs.<subset>.txt`, then `STS.gs...`."""
    m = STS_INPUT.match(input_path.name)
    prefix, subset = m.group("prefix"), m.group("subset")
    names = dict.fromkeys([f"{prefix}.gs.{subset}.txt", f"STS.gs.{subset}.txt"])
    found = [input_path.parent / n for n in names if (input_path.parent / n).is_file()]
    return found or [input_path.parent / next(iter(names))]


def load_sts_year(directory: str | os.PathLike, name: str | None = None) -> StsYear:
    """All subsets of one STS year from a SentEval-layout folder (`STS.input.<subset>.txt` + `STS.gs.<subset>.txt`)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such folder")
    inputs = sts_inputs(directory)
    if not inputs:
        raise DataError(f"{directory}: no STS.input.<subset>.txt files")
    year = StsYear(name or sts_year_name(directory, directory.parent, [p for _, p, _ in inputs]))
    for subset, input_path, gold_path in inputs:
        year.subsets[subset] = load_sts_subset(input_path, gold_path)
    used = {g.name for _, _, g in inputs}
    year.ignored = sorted(p.name for p in directory.glob("*.gs.*.txt") if p.name not in used)
    return year


def sts_year_name(directory: Path, data_dir: Path, inputs: list[Path]) -> str:
    """'STS12' ... 'STS16': from a file prefix (STS2016.*), the nearest folder naming the year, or the subsets."""
    for path in inputs:
        m = YEAR_IN_PREFIX.match(STS_INPUT.match(path.name).group("prefix"))
        if m:
            return f"STS{m.group(1)}"
    folders = [directory, *directory.parents]
    stop = folders.index(data_dir) + 1 if data_dir in folders else len(folders)
    for pattern in (YEAR_IN_DIR, YEAR_ANYWHERE):
        for folder in folders[:stop]:
            m = pattern.search(folder.name)
            if m:
                return f"STS{m.group(1)}"
    subsets = {STS_INPUT.match(p.name).group("subset") for p in inputs}
    years = [y for y, known in SUBSETS_BY_YEAR.items() if subsets <= known]
    if len(years) == 1:
        return f"STS{years[0]}"
    return f"STS {directory.name}"


# ---------------------------------------------------------------------------------------------------- scorers


def score_sts(encode: EncodeFn, data: PairData) -> dict[str, float]:
    """Spearman x 100 between the cosine of each pair's embeddings and the gold scores."""
    emb, index = embed(encode, data.sents1 + data.sents2)
    cos = (emb[[index[s] for s in data.sents1]] * emb[[index[s] for s in data.sents2]]).sum(axis=1)
    return {"spearman": spearman100(cos, data.scores), "pairs": len(data)}


def score_sts_year(encode: EncodeFn, year: StsYear) -> dict[str, float]:
    """'all' (one Spearman over all subsets' pairs), 'wmean' (subset Spearman weighted by scored pairs) and
    'subset:<name>' for each subset, all x 100; the sentences of every subset are encoded in one call."""
    everything = [s for d in year.subsets.values() for s in d.sents1 + d.sents2]
    emb, index = embed(encode, everything)
    out: dict[str, float] = {}
    cos_all, gold_all, weighted = [], [], 0.0
    for name, d in year.subsets.items():
        cos = (emb[[index[s] for s in d.sents1]] * emb[[index[s] for s in d.sents2]]).sum(axis=1)
        out[f"subset:{name}"] = spearman100(cos, d.scores)
        weighted += len(d) * out[f"subset:{name}"]
        cos_all.append(cos)
        gold_all.extend(d.scores)
    return {
        "all": spearman100(np.concatenate(cos_all), gold_all),
        "wmean": weighted / len(year),
        "pairs": len(year),
        **out,
    }


# ---------------------------------------------------------------------------------------------------- discovery


def find_tasks(data_dir: str | os.PathLike) -> list[Task]:
    """Every STS benchmark below `data_dir`, in table order: STS12-16, STS-B, SICK-R."""
    data_dir = Path(data_dir)
    tasks: list[Task] = []
    sts_dirs: dict[Path, list[Path]] = {}
    for path in walk_files(data_dir):
        name = path.name
        if STS_INPUT.match(name):
            sts_dirs.setdefault(path.parent, []).append(path)
        elif STSB_TEST.match(name):
            tasks.append(_pair_task("STS-B", path, load_stsb, order=(1,)))
        elif SICK_SPLIT_TEST.match(name) or SICK_FULL.match(name):
            tasks.append(_pair_task("SICK-R", path, load_sick, order=(2,)))
    for directory, inputs in sts_dirs.items():
        name = sts_year_name(directory, data_dir, inputs)
        subsets = [STS_INPUT.match(p.name).group("subset") for p in inputs]
        golds = [g for p in inputs for g in _gold_candidates(p)[:1] if g.is_file()]  # missing: the loader says so
        tasks.append(
            Task(
                benchmark=name,
                family="STS",
                files=tuple(inputs) + tuple(golds),
                location=directory,
                load=partial(load_sts_year, directory, name),
                score=score_sts_year,
                metrics=(
                    Metric("all", " (all)", "avg"),
                    Metric("wmean", " (wmean)", None),
                    *(Metric(f"subset:{s}", f" {s}", None, detail=True) for s in subsets),
                ),
                order=(0, name),
            )
        )
    return finish(tasks, data_dir)


def _pair_task(benchmark: str, path: Path, loader, order: tuple) -> Task:
    return Task(
        benchmark=benchmark,
        family=benchmark,
        files=(path,),
        location=path,
        load=partial(loader, path),
        score=score_sts,
        metrics=(Metric("spearman", "", "avg"),),
        order=order,
    )
