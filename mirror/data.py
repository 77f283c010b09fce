"""Training corpora: unlabelled strings from a local file or a Hub dataset.

`load_corpus` returns a plain list of strings, stripped, without blank lines and (by default) without repeats,
because two copies of one string in a batch are false negatives for InfoNCE. `TextDataset` wraps the list (or the
positive pairs of `mirror.pairs.load_pairs`) for the Trainer; each item carries its index so the span mask of a
string depends only on (seed, epoch, index).

Local files are read by suffix with strict readers of our own, so that an error names the file and the line or
column (`datasets`' CSV and JSON builders report neither): text, CSV/TSV and JSON(L) are decompressed in memory
(gzip, bz2, lzma; zstd through pyarrow's codec) and read like the plain files, Parquet through pyarrow. A binary
file under a text suffix is named for what it looks like, with the suffix it should have.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import logging
import lzma
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import DataError
from .hub import hub_endpoint, hub_offline, hub_reachable

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".text", ""}
DELIMITED_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JSON_SUFFIXES = {".jsonl", ".json"}
PARQUET_SUFFIXES = {".parquet"}
FORMAT_SUFFIXES = [".txt", ".text", *DELIMITED_SUFFIXES, *sorted(JSON_SUFFIXES), *PARQUET_SUFFIXES]
COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
SUPPORTED = (
    f"{', '.join(FORMAT_SUFFIXES)} (or no suffix: a string per line), each optionally compressed as "
    f"{', '.join(COMPRESSION_SUFFIXES)}"
)
# What the first bytes of a binary file say it is, and the suffix it should have (None: nothing to rename to).
SIGNATURES = [
    (rb"\x1f\x8b", "gzip-compressed data", ".gz"),
    (rb"BZh[1-9](1AY&SY|\x17rE8P\x90)", "bzip2-compressed data", ".bz2"),
    (rb"\xfd7zXZ\x00", "xz-compressed data", ".xz"),
    (rb"\x28\xb5\x2f\xfd", "zstd-compressed data", ".zst"),
    (rb"PAR1(?s:.*)PAR1\Z", "a Parquet file", ".parquet"),
    (rb"PK\x03\x04", "a zip archive (unzip it first)", None),
    (rb"\xff\xff\xff\xff|ARROW1", "an Arrow file (give its save_to_disk folder as --dataset_name)", None),
]


@dataclass
class CorpusStats:
    """What `load_corpus` read and dropped."""

    source: str
    read: int = 0
    blank: int = 0
    duplicates: int = 0
    sampled_out: int = 0
    kept: int = 0

    def __str__(self) -> str:
        return (
            f"{self.source}: read {self.read} strings, dropped {self.blank} blank and {self.duplicates} duplicate, "
            f"sampled out {self.sampled_out}, kept {self.kept}"
        )


def corpus_format(path: str | os.PathLike) -> tuple[str, str | None]:
    """(format suffix, compression) of a file name: 'c.csv.gz' -> ('.csv', 'gzip'), 'c.txt' -> ('.txt', None)."""
    path = Path(path)
    compression = COMPRESSION_SUFFIXES.get(path.suffix.lower())
    return (Path(path.stem).suffix.lower() if compression else path.suffix.lower()), compression


def _sniff(raw: bytes) -> tuple[str, str | None] | None:
    """(what the bytes look like, the suffix that says so) for a known binary format, else None."""
    for pattern, what, suffix in SIGNATURES:
        if re.match(pattern, raw):
            return what, suffix
    return None


def _decompress(path: Path, raw: bytes, compression: str) -> bytes:
    try:
        if compression == "gzip":
            return gzip.decompress(raw)
        if compression == "bzip2":
            return bz2.decompress(raw)
        if compression == "xz":
            return lzma.decompress(raw)
        import pyarrow as pa  # zstd: pyarrow's codec (pyarrow comes with `datasets`; its PyPI wheels have zstd)

        if not pa.Codec.is_available("zstd"):
            raise DataError(
                f"{path}: this pyarrow was built without zstd; install the PyPI wheel (pip install --force-reinstall "
                "pyarrow), or decompress the file first (zstd -d)"
            )
        return pa.input_stream(pa.BufferReader(raw), compression="zstd").read()
    except DataError:
        raise
    except Exception as err:  # gzip.BadGzipFile, OSError, EOFError, lzma.LZMAError, zstd errors
        found = _sniff(raw)
        hint = f"it looks like {found[0]}" if found else f"if it is not compressed, drop the {path.suffix} suffix"
        raise DataError(f"{path}: not valid {compression} data ({' '.join(str(err).split())}); {hint}") from err


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a file")


def read_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a file, decompressed by its suffix (.gz, .bz2, .xz, .zst), or a `DataError` naming it."""
    path = Path(path)
    _check_file(path)
    raw = path.read_bytes()
    compression = corpus_format(path)[1]
    return _decompress(path, raw, compression) if compression else raw


def read_utf8(path: str | os.PathLike) -> str:
    """The text of a file (decompressed by suffix), or a `DataError` naming the file: missing, a directory,
    binary (compressed, Parquet, ...: with the suffix to give it), or not UTF-8 (with line and byte)."""
    path = Path(path)
    raw = read_bytes(path)
    found = _sniff(raw)
    if found:
        what, suffix = found
        name = path.stem if suffix == ".parquet" else path.name
        rename = f"; if it is a corpus, name it {name}{suffix}" if suffix else ""
        raise DataError(f"{path}: looks like {what}, not text{rename}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise DataError(f"{path}: looks like UTF-16 text; convert it to UTF-8 (iconv -f utf-16 -t utf-8)") from err
        if b"\x00" in raw[:8192]:
            raise DataError(f"{path}: looks like a binary file, not text; supported corpora: {SUPPORTED}") from err
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: not valid UTF-8 (byte offset {err.start}, byte 0x{raw[err.start]:02x}); "
            "convert the file to UTF-8"
        ) from err


def _read_txt(path: Path) -> list[str]:
    return read_utf8(path).splitlines()


def _read_delimited(path: Path, column: str) -> list[str]:
    delimiter = DELIMITED_SUFFIXES[corpus_format(path)[0]]
    text = read_utf8(path)
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(text.splitlines(), delimiter=delimiter, quoting=quoting)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: empty file, expected a header row naming the column '{column}'") from None
    if column not in header:
        raise DataError(
            f"{path}, line 1: no column '{column}' in the header {header}; set --text_column to one of them"
        )
    col = header.index(column)
    values = []
    for line_no, row in enumerate(reader, start=2):
        if not row:
            values.append("")
            continue
        if len(row) != len(header):
            raise DataError(f"{path}, line {line_no}: expected {len(header)} columns like the header, got {len(row)}")
        values.append(row[col])
    return values


def _read_json(path: Path, column: str) -> list[str]:
    text = read_utf8(path)
    stripped = text.lstrip()
    if corpus_format(path)[0] == ".json" and stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}, line {err.lineno}: invalid JSON: {err.msg}") from err
        items = list(enumerate(records, start=1))
        where = "item"
    else:
        items = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append((line_no, json.loads(line)))
            except json.JSONDecodeError as err:
                raise DataError(f"{path}, line {line_no}: invalid JSON: {err.msg}") from err
        where = "line"
    values = []
    for n, record in items:
        if isinstance(record, str):
            values.append(record)
        elif isinstance(record, dict) and column in record:
            value = record[column]
            if not isinstance(value, str):
                raise DataError(f"{path}, {where} {n}: field '{column}' is {type(value).__name__}, expected a string")
            values.append(value)
        else:
            raise DataError(f"{path}, {where} {n}: no field '{column}'; set --text_column")
    return values


def _read_parquet(path: Path, column: str) -> list[str]:
    """One string column of a Parquet file (pyarrow, memory-mapped unless compressed); nulls read as blanks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_file(path)
    source = pa.BufferReader(read_bytes(path)) if corpus_format(path)[1] else str(path)
    try:
        parquet = pq.ParquetFile(source, memory_map=isinstance(source, str))
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: not a readable Parquet file ({' '.join(str(err).split())})") from err
    schema = parquet.schema_arrow
    if column not in schema.names:
        raise DataError(f"{path}: no column '{column}' in the columns {schema.names}; set --text_column to one of them")
    kind = schema.field(column).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or str(kind) == "string_view"):
        raise DataError(f"{path}: column '{column}' holds {kind}, expected strings; set --text_column")
    return ["" if value is None else value for value in parquet.read(columns=[column]).column(column).to_pylist()]


def read_corpus_file(path: str | os.PathLike, text_column: str = "text") -> list[str]:
    """Raw strings of a local corpus file, chosen by suffix: .txt (lines), .csv/.tsv (column), .jsonl/.json
    (field), .parquet (column), each optionally compressed (.gz, .bz2, .xz, .zst; see `corpus_format`)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(
            f"{path}: is a directory, expected a file; give a folder of data files or a save_to_disk folder "
            "as --dataset_name"
        )
    suffix = corpus_format(path)[0]
    if suffix in DELIMITED_SUFFIXES:
        return _read_delimited(path, text_column)
    if suffix in JSON_SUFFIXES:
        return _read_json(path, text_column)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, text_column)
    if suffix in TEXT_SUFFIXES:
        return _read_txt(path)
    raise DataError(f"{path}: unknown corpus suffix '{suffix}'; --train_file reads {SUPPORTED}")


def read_hub_dataset(name: str, config_name: str | None, split: str, text_column: str) -> list[str]:
    """Strings of one column of a split of a Hub dataset or a local folder of data files (`datasets.load_dataset`)
    or of a `save_to_disk` folder (`datasets.load_from_disk`)."""
    import datasets  # only for Hub datasets: `datasets` takes seconds to import

    if not Path(name).exists():
        if hub_offline():
            raise DataError(
                f"--dataset_name {name}: HF_HUB_OFFLINE is set, so the Hub cannot be reached; use --train_file "
                "with a local copy, or unset HF_HUB_OFFLINE"
            )
        if not hub_reachable():
            raise DataError(
                f"--dataset_name {name}: the Hub ({hub_endpoint()}) cannot be reached from this machine; use "
                "--train_file with a local copy"
            )
    try:
        if (Path(name) / "dataset_dict.json").is_file() or (Path(name) / "state.json").is_file():
            ds = datasets.load_from_disk(name)  # a save_to_disk folder: memory-mapped, no cache copy
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise DataError(f"--dataset_name {name}: no split '{split}' in {list(ds)}; set --dataset_split")
                ds = ds[split]
        else:
            ds = datasets.load_dataset(name, config_name, split=split)
    except DataError:
        raise
    except Exception as err:  # datasets raises many types (FileNotFoundError, ConnectionError, ValueError, ...)
        raise DataError(f"--dataset_name {name} (split {split}): could not be loaded: {err}") from err
    if text_column not in ds.column_names:
        raise DataError(
            f"--dataset_name {name}: no column '{text_column}' in {ds.column_names}; set --text_column"
        )
    return [str(x) if x is not None else "" for x in ds[text_column]]


def clean_strings(
    raw: list[str],
    source: str,
    deduplicate: bool = True,
    max_train_samples: int | None = None,
    seed: int = 42,
) -> tuple[list[str], CorpusStats]:
    """Strip, drop blanks, optionally de-duplicate (first occurrence kept) and sample (order kept)."""
    stats = CorpusStats(source=source, read=len(raw))
    texts = [s.strip() for s in raw]
    non_blank = [s for s in texts if s]
    stats.blank = len(texts) - len(non_blank)
    non_blank = dedupe_and_sample(non_blank, stats, deduplicate, max_train_samples, seed)
    stats.kept = len(non_blank)
    return non_blank, stats


def dedupe_and_sample(items: list, stats, deduplicate: bool, max_train_samples: int | None, seed: int) -> list:
    """Drop repeats (first occurrence kept), then keep a seeded sample of `max_train_samples` (order kept); the
    counts go to `stats.duplicates` and `stats.sampled_out`. Items are strings, or pairs of strings."""
    if deduplicate:
        unique = list(dict.fromkeys(items))
        stats.duplicates = len(items) - len(unique)
        items = unique
    if max_train_samples is not None and max_train_samples < len(items):
        keep = sorted(random.Random(seed).sample(range(len(items)), max_train_samples))
        stats.sampled_out = len(items) - len(keep)
        items = [items[i] for i in keep]
    return items


def load_corpus(
    train_file: str | os.PathLike | None = None,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    dataset_split: str = "train",
    text_column: str = "text",
    deduplicate: bool = True,
    max_train_samples: int | None = None,
    seed: int = 42,
) -> tuple[list[str], CorpusStats]:
    """Load, clean and count a training corpus from `train_file` or, failing that, a Hub `dataset_name`."""
    if train_file:
        raw = read_corpus_file(train_file, text_column)
        source = str(train_file)
    elif dataset_name:
        raw = read_hub_dataset(dataset_name, dataset_config_name, dataset_split, text_column)
        source = f"{dataset_name}[{dataset_split}]"
    else:
        raise DataError("no training data: give --train_file (a local file) or --dataset_name (a Hub dataset)")
    if not raw:
        raise DataError(f"{source}: empty, no strings to train on")
    texts, stats = clean_strings(raw, source, deduplicate, max_train_samples, seed)
    if not texts:
        raise DataError(f"{source}: every line is blank, no strings to train on")
    logger.info(str(stats))
    return texts, stats


class TextDataset(torch.utils.data.Dataset):
    """A list of strings, or of (anchor, partner) pairs, as a map-style dataset.

    Item i is {'idx': i, 'text': texts[i]}, or {'idx': i, 'text': anchor, 'partner': partner} for pairs (given
    as `TextDataset(pairs=...)`), the collator's features."""

    def __init__(self, texts: list[str] | None = None, pairs: list[tuple[str, str]] | None = None):
        if (texts is None) == (pairs is None):
            raise ValueError("TextDataset: give either texts or pairs")
        self.texts = list(texts) if pairs is None else [a for a, _ in pairs]
        self.partners = None if pairs is None else [b for _, b in pairs]

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> dict:
        if self.partners is None:
            return {"idx": i, "text": self.texts[i]}
        return {"idx": i, "text": self.texts[i], "partner": self.partners[i]}
