"""Positive pairs: two strings per row, each the other's positive (`--pair_columns`, `--pairwise`).

`load_pairs` reads (anchor, partner) pairs from two columns of a table or a Hub dataset, through `mirror.data`'s
single-column readers (so every format they read, read the same way), from a headerless .csv/.tsv by column
position (a bilingual dictionary such as XLING's `source<TAB>target`), or from `anchor||partner` lines of a text
file (the original code's `--pairwise`). It strips both sides, drops pairs with a blank side and repeated pairs, and
counts the pairs that share a string with another pair: the loss masks identical strings out of each other's
negatives (`string_ids`, see `MirrorCollator`), so those are not false negatives.
"""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .data import (
    DELIMITED_SUFFIXES,
    TEXT_SUFFIXES,
    CorpusStats,
    dedupe_and_sample,
    read_corpus_file,
    read_hub_dataset,
    read_utf8,
)
from .errors import DataError

logger = logging.getLogger(__name__)

PAIR_SEPARATOR = "||"  # the original code's `--pairwise` line format: `anchor||partner`


@dataclass
class PairStats(CorpusStats):
    """What `load_pairs` read and dropped (counts are of pairs), and how many kept pairs share a string with
    another kept pair (the loss does not use a string on several rows as its own negative)."""

    sharing_a_string: int = 0

    def __str__(self) -> str:
        return (
            f"{self.source}: read {self.read} pairs, dropped {self.blank} with a blank side and {self.duplicates} "
            f"duplicate, sampled out {self.sampled_out}, kept {self.kept} ({self.sharing_a_string} share a string "
            "with another pair: masked out of each other's negatives)"
        )


def _read_pair_lines(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for line_no, line in enumerate(read_utf8(path).splitlines(), start=1):
        if not line.strip():
            pairs.append(("", ""))
            continue
        parts = line.split(PAIR_SEPARATOR)
        if len(parts) != 2:
            found = "no" if len(parts) == 1 else f"{len(parts) - 1}"
            raise DataError(f"{path}, line {line_no}: expected one '{PAIR_SEPARATOR}' (--pairwise), found {found}")
        if not parts[0].strip() or not parts[1].strip():
            side = "left" if not parts[0].strip() else "right"
            raise DataError(f"{path}, line {line_no}: the {side} side of '{PAIR_SEPARATOR}' is empty")
        pairs.append((parts[0], parts[1]))
    return pairs


def _read_headerless(path: Path, positions: list[int]) -> list[tuple[str, str]]:
    delimiter = DELIMITED_SUFFIXES[path.suffix.lower()]
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    pairs = []
    for line_no, row in enumerate(csv.reader(read_utf8(path).splitlines(), delimiter=delimiter, quoting=quoting), 1):
        if not row or not any(cell.strip() for cell in row):
            pairs.append(("", ""))
        elif len(row) <= max(positions):
            raise DataError(
                f"{path}, line {line_no}: {len(row)} column(s), no column {max(positions)} "
                f"(--pair_columns {positions[0]} {positions[1]} count from 0)"
            )
        else:
            pairs.append((row[positions[0]], row[positions[1]]))
    return pairs


def _read_named_columns(read, columns: list[str]) -> list[tuple[str, str]]:
    """Two columns through one of the single-column readers, whose missing-column hint names --pair_columns."""
    try:
        return list(zip(read(columns[0]), read(columns[1]), strict=True))
    except DataError as err:
        raise DataError(str(err).replace("set --text_column", "set --pair_columns")) from err


def read_pairs(
    train_file: str | os.PathLike | None = None,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    dataset_split: str = "train",
    pair_columns: list[str] | None = None,
    pairwise: bool = False,
) -> tuple[list[tuple[str, str]], str]:
    """Raw (anchor, partner) pairs and where they came from.

    `pairwise`: a text file of `anchor||partner` lines. `pair_columns` (two names): two columns of a table file
    (whatever `read_corpus_file` reads) or of a Hub dataset; two integers name positions in a headerless .csv/.tsv
    (XLING's dictionaries: `source<TAB>target`, `--pair_columns 0 1`)."""
    if train_file:
        path = Path(train_file)
        suffix = path.suffix.lower()
        if pairwise:
            if suffix not in TEXT_SUFFIXES:
                raise DataError(f"{path}: --pairwise reads 'a||b' lines of a text file; for a table give --pair_columns")
            return _read_pair_lines(path), str(path)
        if suffix in TEXT_SUFFIXES:
            raise DataError(f"{path}: a text file has no columns; for 'a||b' lines use --pairwise, not --pair_columns")
        if all(c.isdigit() for c in pair_columns) and suffix in DELIMITED_SUFFIXES:
            return _read_headerless(path, [int(c) for c in pair_columns]), str(path)
        return _read_named_columns(lambda column: read_corpus_file(path, column), pair_columns), str(path)
    if dataset_name:
        if pairwise:
            raise DataError(f"--dataset_name {dataset_name}: --pairwise reads a text file; give --pair_columns")
        read = lambda column: read_hub_dataset(dataset_name, dataset_config_name, dataset_split, column)  # noqa: E731
        return _read_named_columns(read, pair_columns), f"{dataset_name}[{dataset_split}]"
    raise DataError("no training data: give --train_file (a local file) or --dataset_name (a Hub dataset)")


def load_pairs(
    train_file: str | os.PathLike | None = None,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    dataset_split: str = "train",
    pair_columns: list[str] | None = None,
    pairwise: bool = False,
    deduplicate: bool = True,
    max_train_samples: int | None = None,
    seed: int = 42,
) -> tuple[list[tuple[str, str]], PairStats]:
    """Load, clean and count positive pairs (see `read_pairs`): both sides stripped, pairs with a blank side
    dropped, repeated pairs (same anchor and partner) dropped, first kept, then a seeded sample (order kept)."""
    raw, source = read_pairs(train_file, dataset_name, dataset_config_name, dataset_split, pair_columns, pairwise)
    if not raw:
        raise DataError(f"{source}: empty, no pairs to train on")
    stats = PairStats(source=source, read=len(raw))
    pairs = [(a.strip(), b.strip()) for a, b in raw]
    pairs = [(a, b) for a, b in pairs if a and b]
    stats.blank = len(raw) - len(pairs)
    pairs = dedupe_and_sample(pairs, stats, deduplicate, max_train_samples, seed)
    if not pairs:
        raise DataError(f"{source}: every pair has a blank side, no pairs to train on")
    rows_of = Counter(s for pair in pairs for s in set(pair))  # on how many pairs each string is
    stats.sharing_a_string = sum(1 for pair in pairs if any(rows_of[s] > 1 for s in pair))
    stats.kept = len(pairs)
    logger.info(str(stats))
    return pairs, stats
