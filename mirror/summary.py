"""Several seeds, one table: mean and standard deviation per benchmark over runs that differ only in their seed.

`seed_summary(inputs)` takes the evaluation suite's results (CSV paths, DataFrames or row dicts: a first column
`model`, one numeric column per benchmark, plus the average) and groups the rows by model name with the seed
taken out (`outputs/multi/seed1/final` and `outputs/multi/seed2/final` -> `outputs/multi/seed*/final`). It
returns one row per group: `n` (runs), then `<benchmark> mean` and `<benchmark> std` for each numeric column.
The standard deviation is the **sample** standard deviation (ddof=1, pandas' default), NaN for a single run.
`format_mean_std` turns that into "mean ± std" strings for a README or paper table.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Iterable, Mapping, Union

import pandas as pd

from .errors import DataError

SEED_PATTERN = re.compile(r"seed[-_=]?\d+")

ResultsInput = Union[str, os.PathLike, pd.DataFrame, Mapping]


def seed_group(model: str) -> str:
    """The model name with its seed replaced by `*` ('runs/seed2/final' -> 'runs/seed*/final')."""
    return SEED_PATTERN.sub("seed*", str(model))


def read_results(inputs: ResultsInput | Iterable[ResultsInput]) -> pd.DataFrame:
    """All rows of the given results (CSV paths, DataFrames, row dicts) as one DataFrame with a `model` column."""
    if isinstance(inputs, (str, os.PathLike, pd.DataFrame, Mapping)):
        inputs = [inputs]
    frames, rows = [], []
    for item in inputs:
        if isinstance(item, Mapping):
            rows.append(dict(item))
            continue
        frame, source = (item, "results table") if isinstance(item, pd.DataFrame) else (_read_csv(item), str(item))
        if frame.index.name == "model":
            frame = frame.reset_index()
        if "model" not in frame.columns:
            raise DataError(f"{source}: no 'model' column (columns: {list(frame.columns)})")
        frames.append(frame)
    if rows:
        frames.append(pd.DataFrame(rows))
        if "model" not in frames[-1].columns:
            raise DataError("results rows: each row needs a 'model' key")
    if not frames or all(f.empty for f in frames):
        raise DataError("no results rows to summarise")
    return pd.concat(frames, ignore_index=True)


def _read_csv(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such results file")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV: {err}") from None


def seed_summary(
    inputs: ResultsInput | Iterable[ResultsInput], group: Callable[[str], str] | None = seed_group
) -> pd.DataFrame:
    """Mean and sample std (ddof=1) of every numeric column per group of runs.

    group: maps a `model` name to its group (default: the name with the seed replaced by `*`); None groups all
    rows together (under the name 'all'). Non-numeric columns other than `model` are ignored. Columns keep the
    order of the inputs: `n`, then `<benchmark> mean`, `<benchmark> std` per benchmark.
    """
    table = read_results(inputs)
    benchmarks = [c for c in table.columns if c != "model" and pd.api.types.is_numeric_dtype(table[c])]
    if not benchmarks:
        raise DataError(f"no numeric benchmark column among {[c for c in table.columns if c != 'model']}")
    keys = table["model"].map(group) if group is not None else pd.Series("all", index=table.index)
    grouped = table[benchmarks].groupby(keys.rename("model"), sort=False)
    mean, std = grouped.mean(), grouped.std(ddof=1)
    out = pd.DataFrame({"n": grouped.size()})
    for bench in benchmarks:
        out[f"{bench} mean"] = mean[bench]
        out[f"{bench} std"] = std[bench]
    return out


def format_mean_std(summary: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """'mean ± std' strings per benchmark (just the mean when std is NaN, i.e. one run), and `n`."""
    out = pd.DataFrame({"n": summary["n"]}, index=summary.index)
    for col in summary.columns:
        if col.endswith(" mean"):
            bench = col[: -len(" mean")]
            mean, std = summary[col], summary[f"{bench} std"]
            out[bench] = [
                f"{m:.{digits}f}" if pd.isna(s) else f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(mean, std)
            ]
    return out
