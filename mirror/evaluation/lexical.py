"""Word similarity: SimLex-999, Multi-SimLex, WordSim-353, MEN; Spearman x 100 of the cosine of two words' embeddings.

Each word is encoded on its own, as a string (the same `encode` as sentences). Recognised files (anywhere under a
folder; names are matched case-insensitively):

* Multi-SimLex, official sheets: `scores.csv` (`ID, ENG 1, ENG 2, PoS, <LANG>...`) with `translation.csv`
  (`<LANG> 1, <LANG> 2` word columns) beside it; one benchmark per language that has both words and scores. A
  language is a column named by a 2-3 letter code (`ENG`, `CMN`, ...) whose word columns hold words; the release's
  `scores` (the mean over languages, with English words) and `translation` (empty) columns are skipped with a note.
* Multi-SimLex, one file per language: `<lang>.tsv` (or .txt/.csv) in a folder whose path names Multi-SimLex,
  e.g. `multisimlex/fra.tsv` with header `id word1 word2 pos score`.
* SimLex-999: `SimLex-999.txt` (the release: header, score column `SimLex999`, CRLF); any other name containing
  `SimLex-999` / `simlex999`.
* WordSim-353: `combined.csv` / `combined.tab` of gabrilovich's `wordsim353.zip` (in a WordSim folder, or with its
  header `Word 1, Word 2, Human (mean)`), `wordsim_similarity_goldstandard.txt` ("WordSim-353 sim") and
  `wordsim_relatedness_goldstandard.txt` ("WordSim-353 rel") of the sim/rel split, `EN-WS-353-ALL/SIM/REL.txt`;
  any other name containing `wordsim` or `ws353`/`ws-353` (`..._sim...` -> sim, `..._rel...` -> rel).
* MEN: `MEN_dataset_natural_form_full`, `EN-MEN-TR-3k.txt`; `MEN_dataset_lemma_form_full` ("MEN lemma", the
  `-n`/`-v`/`-j` part-of-speech suffixes removed); any other name with a `men` token (`MEN.txt`).

Release names (`RELEASE_NAMES`, `scores.csv`, `combined.*`) are benchmarks: a malformed one stops the run with an
error naming file and line. The other names above are broad patterns: such a file is an `optional` task, skipped
with a note if it does not load. Never read (`COMPANION_NAMES`): what the releases ship beside the benchmark,
WordSim's `set1`/`set2` (parts of `combined`), the sim/rel split's `wordsim353_agreed.txt` and
`wordsim353_annotator1/2.txt` (relation annotations), MEN's `agreement/` folder (two raters' own ratings) and its
lemma-form `.dev`/`.test` halves.

Word-pair files: `word1, word2, score` separated by tabs (if the first line has one), commas (.csv) or spaces; a
first line without any number is a header naming the columns (`word1`/`Word 1`, `score`/`SimLex999`/`Human
(mean)`...), otherwise the first three columns are word, word, score.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

from ..errors import DataError
from .common import EncodeFn, embed, parse_score, read_lines, spearman100
from .discovery import Metric, Task, finish, name_tokens, relative_parts, squash, walk_files

__all__ = [
    "WordPairs",
    "find_tasks",
    "load_multisimlex",
    "load_word_pairs",
    "score_word_similarity",
]

WORD1_NAMES = {"word1", "w1", "worda", "firstword", "term1"}
WORD2_NAMES = {"word2", "w2", "wordb", "secondword", "term2"}
SCORE_NAMES = (
    "score", "scores", "similarity", "sim", "simlex999", "humanmean", "mean", "relatedness", "rating", "gold",
    "goldscore", "avgscore", "averagescore", "humanscore", "meanscore",
)  # fmt: skip
WORD_SUFFIXES = {"", ".txt", ".tsv", ".csv", ".tab"}
MEN_POS_SUFFIX = re.compile(r"-[nvj]$")
LANG_CODE = re.compile(r"^[a-z]{2,3}$")
MSL_LANGUAGE_COLUMN = re.compile(r"^[A-Za-z]{2,3}$")  # ISO 639-3 in the release (ENG, CMN, YUE...)


@dataclass
class WordPairs:
    """Word pairs with gold similarity scores."""

    words1: list[str]
    words2: list[str]
    scores: list[float]
    language: str = ""
    unscored: int = 0  # rows with an empty score cell (Multi-SimLex sheets), dropped
    blank_lines: int = 0
    source: str = ""

    def __len__(self) -> int:
        return len(self.scores)

    def stats(self) -> dict[str, int]:
        out = {"pairs": len(self), "blank_lines": self.blank_lines}
        if self.unscored:
            out["unscored"] = self.unscored
        return out

    def content(self) -> tuple:
        return (self.words1, self.words2, self.scores)


# ---------------------------------------------------------------------------------------------------- loaders


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter == ",":
        return [c.strip() for c in next(csv.reader([line]))]
    if delimiter == "\t":
        return [c.strip() for c in line.strip().split("\t")]
    return line.split()


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _find_column(header: list[str], names) -> int | None:
    """Index of the first header cell named like one of `names` (compared squashed), or None."""
    squashed = [squash(h) for h in header]
    for name in names:
        if name in squashed:
            return squashed.index(name)
    return None


def load_word_pairs(path: str | os.PathLike, strip_pos: bool = False, language: str = "") -> WordPairs:
    """A word-similarity file: (word, word, score) rows, tab-, comma- or space-separated, header or not.

    strip_pos: remove a `-n`/`-v`/`-j` part-of-speech suffix from each word (MEN's lemma form).
    """
    path = Path(path)
    lines = read_lines(path, "word pairs with a similarity score (word1, word2, score)")
    first_no, first = next((i, line) for i, line in enumerate(lines, start=1) if line.strip())
    delimiter = "\t" if "\t" in first else "," if path.suffix.lower() == ".csv" else None
    fields = _split(first, delimiter)
    if not any(_is_number(f) for f in fields):  # a header
        w1 = _find_column(fields, WORD1_NAMES)
        w2 = _find_column(fields, WORD2_NAMES)
        s = _find_column(fields, SCORE_NAMES)
        if s is None and len(fields) == 3:
            s = 2
        if s is None:
            raise DataError(
                f"{path}, line {first_no}: cannot tell which header column holds the score in {fields}; "
                f"expected one named like {', '.join(SCORE_NAMES[:6])}, ..."
            )
        w1 = 0 if w1 is None else w1
        w2 = 1 if w2 is None else w2
        width, start = len(fields), first_no + 1
    else:
        if len(fields) != 3:
            raise DataError(
                f"{path}, line {first_no}: expected 3 columns (word, word, score) or a header naming the score "
                f"column, got {len(fields)}"
            )
        w1, w2, s, width, start = 0, 1, 2, 3, first_no
    data = WordPairs([], [], [], language=language, source=str(path), blank_lines=first_no - 1)
    for line_no, line in enumerate(lines[start - 1 :], start=start):
        if not line.strip():
            data.blank_lines += 1
            continue
        row = _split(line, delimiter)
        if len(row) != width:
            sep = {"\t": "tab", ",": "comma"}.get(delimiter, "space")
            raise DataError(f"{path}, line {line_no}: expected {width} {sep}-separated columns, got {len(row)}")
        word1, word2 = row[w1], row[w2]
        if strip_pos:
            word1, word2 = MEN_POS_SUFFIX.sub("", word1), MEN_POS_SUFFIX.sub("", word2)
        if not word1 or not word2:
            raise DataError(f"{path}, line {line_no}: empty word")
        data.scores.append(parse_score(row[s], path, line_no))
        data.words1.append(word1)
        data.words2.append(word2)
    if len(data) < 2:
        raise DataError(f"{path}: {len(data)} word pairs, too few for a correlation")
    return data


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, cells) rows of a comma-separated file (quoted cells allowed)."""
    lines = read_lines(path, "a comma-separated sheet with a header row")
    reader = csv.reader(lines)
    header = [h.strip() for h in next(reader)]
    rows = []
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}, line {reader.line_num}: expected {len(header)} columns like the header, got {len(row)}")
        rows.append((reader.line_num, [c.strip() for c in row]))
    return header, rows


def multisimlex_languages(scores_path: Path, translation_path: Path | None) -> tuple[list[str], dict[str, str]]:
    """(languages, {skipped column: why}) of a Multi-SimLex `scores.csv` (`language_columns`), with the word
    columns `<LANG> 1`/`<LANG> 2` taken from `translation.csv`, else from `scores.csv` itself. An unreadable sheet
    gives ([], {}): its loader then says what is wrong."""
    columns = _csv_columns(scores_path)
    words = dict(columns)
    if translation_path is not None and translation_path.is_file():
        words |= _csv_columns(translation_path)
    return language_columns(list(columns), words)


def language_columns(score_header: list[str], word_columns: dict[str, list[str]]) -> tuple[list[str], dict[str, str]]:
    """Which score columns of a Multi-SimLex sheet are languages, in sheet order, and why the others are not.

    A column with word columns `<col> 1` and `<col> 2` is a language when its name is a 2-3 letter code and those
    columns hold words (some non-empty cells, at most half of them numbers). The release's `scores` (the mean over
    languages, with English words) and `translation` (empty) are not; columns without word columns (`ID`, `PoS`)
    are not considered at all.
    """
    languages, skipped = [], {}
    for column in score_header:
        first, second = word_columns.get(f"{column} 1"), word_columns.get(f"{column} 2")
        if not column or first is None or second is None:
            continue
        cells = [c for c in first + second if c]
        if not MSL_LANGUAGE_COLUMN.match(column):
            skipped[column] = "its name is not a 2-3 letter language code"
        elif not cells:
            skipped[column] = f"its word columns '{column} 1'/'{column} 2' are empty"
        elif 2 * sum(_is_number(c) for c in cells) > len(cells):
            skipped[column] = f"its word columns '{column} 1'/'{column} 2' hold mostly numbers, not words"
        else:
            languages.append(column)
    return languages, skipped


def _csv_columns(path: Path) -> dict[str, list[str]]:
    """{header cell: the column's cells} of a CSV file, leniently ({} if it is not UTF-8 or not CSV)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error):
        return {}
    if not rows:
        return {}
    return {h.strip(): [r[i].strip() for r in rows[1:] if i < len(r)] for i, h in enumerate(rows[0])}


@lru_cache(maxsize=4)
def _load_multisimlex_cached(scores_path: Path, translation_path: Path | None, signature: tuple) -> dict[str, WordPairs]:
    return load_multisimlex(scores_path, translation_path)


def _signature(*paths: Path | None) -> tuple:
    """(mtime, size) of each file, so a cached parse is reused only while the files are unchanged."""
    return tuple((p.stat().st_mtime_ns, p.stat().st_size) if p is not None and p.exists() else None for p in paths)


def load_multisimlex(
    scores_path: str | os.PathLike, translation_path: str | os.PathLike | None = None
) -> dict[str, WordPairs]:
    """Multi-SimLex from its official sheets: `scores.csv` (a score column per language, e.g. `ENG`, `FRA`) and
    `translation.csv` (words `<LANG> 1`, `<LANG> 2`; English words may also come from `scores.csv`).

    Rows are matched by `ID` when both sheets have one (else by position). Returns {language: WordPairs} for
    every language with both words and scores (`language_columns`: the release's `scores` and `translation`
    columns are not languages); an empty score or word cell is an unscored pair (counted).
    """
    scores_path = Path(scores_path)
    header, rows = _read_csv(scores_path)
    if translation_path is None and (scores_path.parent / "translation.csv").is_file():
        translation_path = scores_path.parent / "translation.csv"
    sheets = [(scores_path, header, rows)]
    if translation_path is not None:
        translation_path = Path(translation_path)
        t_header, t_rows = _read_csv(translation_path)
        if len(t_rows) != len(rows):
            raise DataError(f"{translation_path}: {len(t_rows)} rows, but {scores_path} has {len(rows)}")
        if "ID" in header and "ID" in t_header:
            i, j = header.index("ID"), t_header.index("ID")
            for (line_a, a), (line_b, b) in zip(rows, t_rows):
                if a[i] != b[j]:
                    raise DataError(
                        f"{translation_path}, line {line_b}: ID {b[j]!r} but {scores_path}, line {line_a} has ID {a[i]!r}"
                    )
        sheets.insert(0, (translation_path, t_header, t_rows))
    words = {}  # word columns: translation.csv's where both sheets have one, as `word_sheet` below picks them
    for _, sheet_header, sheet_rows in reversed(sheets):
        words |= {h: [row[i] for _, row in sheet_rows] for i, h in enumerate(sheet_header)}
    languages, skipped = language_columns(header, words)
    if not languages:
        why = "".join(f"; '{c}' skipped: {reason}" for c, reason in skipped.items())
        raise DataError(
            f"{scores_path}, line 1: no language with a score column and '<LANG> 1'/'<LANG> 2' word columns{why}"
        )
    out = {}
    for lang in languages:
        word_sheet = next(s for s in sheets if f"{lang} 1" in s[1] and f"{lang} 2" in s[1])
        w_path, w_header, w_rows = word_sheet
        c1, c2, cs = w_header.index(f"{lang} 1"), w_header.index(f"{lang} 2"), header.index(lang)
        data = WordPairs([], [], [], language=lang, source=f"{scores_path} + {w_path}")
        for (line_no, row), (_, w_row) in zip(rows, w_rows):
            word1, word2, score = w_row[c1], w_row[c2], row[cs]
            if not (word1 and word2 and score):
                data.unscored += 1
                continue
            data.scores.append(parse_score(score, scores_path, line_no, f"{lang} score"))
            data.words1.append(word1)
            data.words2.append(word2)
        if len(data) < 2:
            raise DataError(f"{scores_path}: {len(data)} scored {lang} pairs, too few for a correlation")
        out[lang] = data
    return out


# ---------------------------------------------------------------------------------------------------- scorer


def score_word_similarity(encode: EncodeFn, data: WordPairs) -> dict[str, float]:
    """Spearman x 100 between the cosine of the two words' embeddings and the gold scores."""
    emb, index = embed(encode, data.words1 + data.words2)
    cos = (emb[[index[w] for w in data.words1]] * emb[[index[w] for w in data.words2]]).sum(axis=1)
    return {"spearman": spearman100(cos, data.scores), "pairs": len(data)}


# ---------------------------------------------------------------------------------------------------- discovery

ORDER = {"SimLex-999": 0, "Multi-SimLex": 1, "WordSim-353": 2, "MEN": 3}


def folder_names(path: Path, data_dir: Path) -> list[str]:
    """Squashed names of the (up to 3) folders above `path`, counting `data_dir` itself but nothing above it."""
    return [squash(p) for p in (Path(data_dir).resolve().name, *relative_parts(path.parent, data_dir))][-3:]


# Benchmark files by the name their release gives them (lower case): a file so named that does not parse stops the
# run. The official releases, then the copies in Faruqui's eval-word-vectors (`EN-<NAME>.txt`).
RELEASE_NAMES = {
    "simlex-999.txt": ("SimLex-999", {}),
    "wordsim_similarity_goldstandard.txt": ("WordSim-353 sim", {}),
    "wordsim_relatedness_goldstandard.txt": ("WordSim-353 rel", {}),
    "men_dataset_natural_form_full": ("MEN", {}),
    "men_dataset_lemma_form_full": ("MEN lemma", {"strip_pos": True}),
    "en-simlex-999.txt": ("SimLex-999", {}),
    "en-ws-353-all.txt": ("WordSim-353", {}),
    "en-ws-353-sim.txt": ("WordSim-353 sim", {}),
    "en-ws-353-rel.txt": ("WordSim-353 rel", {}),
    "en-men-tr-3k.txt": ("MEN", {}),
}
# Files the releases ship beside their benchmark files, never read: WordSim's two annotation batches (`set1`,
# `set2`: `combined` is the benchmark) and the sim/rel split's relation annotations (`wordsim353_agreed.txt`,
# `wordsim353_annotator1/2.txt`), MEN's `agreement/` folder (two raters' own 1-7 ratings, an agreement table) and
# its lemma-form dev/test halves (parts of the full file).
COMPANION_NAMES = re.compile(r"^(set[12]|wordsim353_(agreed|annotator\d*)|.*\bmen[-_]ratings|agreement[-_]score)(\..*)?$", re.I)
COMPANION_FOLDERS = {"agreement"}


def recognise(path: Path, data_dir: Path) -> tuple[str, dict, bool] | None:
    """(benchmark, loader options, optional) for a word-similarity file, or None (not a benchmark file).

    optional: the file was caught by a broad name pattern, not by its release name: if it does not load, the suite
    skips it with a note."""
    if path.suffix.lower() not in WORD_SUFFIXES:
        return None
    if COMPANION_NAMES.match(path.name) or (path.parent != data_dir and path.parent.name.lower() in COMPANION_FOLDERS):
        return None
    release = RELEASE_NAMES.get(path.name.lower())
    if release is not None:
        return (*release, False)
    tokens = name_tokens(path.stem)
    stem = squash(path.stem)
    folders = folder_names(path, data_dir)
    if any("multisimlex" in f for f in folders) or stem.startswith("multisimlex"):
        if path.name.lower() in ("scores.csv", "translation.csv"):
            return None
        code = tokens[-1] if tokens else ""
        if LANG_CODE.match(code) and code not in ("txt", "tsv", "csv"):
            return f"Multi-SimLex {code.upper()}", {"language": code.upper()}, True
        return None
    if "simlex999" in stem and "multisimlex" not in stem:
        return "SimLex-999", {}, True
    if path.stem.lower() == "combined" and _wordsim_combined(path, folders):
        return "WordSim-353", {}, False  # wordsim353.zip's combined.csv / combined.tab
    if "wordsim" in stem or "ws353" in stem:
        rest = set(tokens) - {"wordsim", "353", "ws", "en", "goldstandard"}
        if rest & {"sim", "similarity"} or "similarity" in stem.replace("wordsim", ""):
            return "WordSim-353 sim", {}, True
        if rest & {"rel", "relatedness"} or "relatedness" in stem:
            return "WordSim-353 rel", {}, True
        if rest & {"set1", "set2"}:
            return None  # the two annotation batches of combined: the benchmark is combined
        return "WordSim-353", {}, True
    if "men" in tokens and not rest_tokens_mark_split(tokens):
        if "lemma" in tokens:
            return "MEN lemma", {"strip_pos": True}, True
        return "MEN", {}, True
    return None


def _wordsim_combined(path: Path, folders: list[str]) -> bool:
    """`combined.csv`/`combined.tab` is WordSim-353 in a WordSim folder or with its header `Word 1, Word 2, Human (mean)`."""
    if any("wordsim" in f or "ws353" in f for f in folders):
        return True
    with open(path, encoding="utf-8", errors="replace") as f:
        return "humanmean" in squash(f.readline())


def rest_tokens_mark_split(tokens: list[str]) -> bool:
    """MEN's lemma-form dev/test halves are parts of the full file, not benchmarks of their own."""
    return bool({"dev", "test", "train"} & set(tokens))


def find_tasks(data_dir: str | os.PathLike) -> list[Task]:
    """Every word-similarity benchmark below `data_dir`: SimLex-999, Multi-SimLex (per language), WordSim-353, MEN."""
    data_dir = Path(data_dir)
    tasks: list[Task] = []
    for path in walk_files(data_dir):
        if path.name.lower() == "scores.csv":
            translation = path.parent / "translation.csv"
            translation = translation if translation.is_file() else None
            files = (path,) + ((translation,) if translation else ())
            languages, skipped = multisimlex_languages(path, translation)
            where = "/".join(relative_parts(path, data_dir))
            notes = tuple(f"{where}: column '{c}' is not a language, skipped: {why}" for c, why in skipped.items())
            for lang in languages:
                load = partial(_msl_language, path, translation, lang)
                tasks.append(_task(f"Multi-SimLex {lang}", "Multi-SimLex", files, path, load, (1, 0), notes))
            if not languages and (translation or any("multisimlex" in f for f in folder_names(path, data_dir))):
                # a Multi-SimLex sheet without a usable header (empty, not UTF-8, no language): its loader says why
                tasks.append(_task("Multi-SimLex", "Multi-SimLex", files, path, partial(load_multisimlex, path, translation), (1, 0)))
            continue
        found = recognise(path, data_dir)
        if found is None:
            continue
        benchmark, options, optional = found
        family = benchmark.split(" ")[0]
        load = partial(load_word_pairs, path, **options)
        tasks.append(_task(benchmark, family, (path,), path, load, (ORDER[family], 1), optional=optional))
    return finish(tasks, data_dir)


def _msl_language(scores_path: Path, translation_path: Path | None, lang: str) -> WordPairs:
    sheets = _load_multisimlex_cached(scores_path, translation_path, _signature(scores_path, translation_path))
    return sheets[lang]


def _task(benchmark, family, files, location, load, order, notes=(), optional=False) -> Task:
    return Task(
        optional=optional,
        benchmark=benchmark,
        family=family,
        files=tuple(files),
        location=location,
        load=load,
        score=score_word_similarity,
        metrics=(Metric("spearman", "", "avg"),),
        order=(order[0], benchmark, order[1]),
        notes=notes,
    )
