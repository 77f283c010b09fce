"""Results tables: rows (one per model) -> a pandas DataFrame with average columns -> markdown, CSV, JSON, PNG.

Every file is written atomically (`mirror.atomic.atomic_write`, also importable from here as before), so an
interrupted run leaves either the previous results file or the new one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import atomic_write

__all__ = ["atomic_write", "plot_table", "results_table", "to_markdown", "write_results"]


def results_table(
    rows: dict[str, dict[str, float]], columns: list[str], averages: dict[str, list[str]]
) -> pd.DataFrame:
    """A model x column table, plus one column per entry of `averages` (the mean of its member columns)."""
    df = pd.DataFrame.from_dict(rows, orient="index", columns=columns, dtype=float)
    df.index.name = "model"
    for name, members in averages.items():
        df[name] = df[members].mean(axis=1, skipna=False) if members else np.nan
    return df


def to_markdown(df: pd.DataFrame, floatfmt: str = ".2f") -> str:
    return df.to_markdown(floatfmt=floatfmt)


def _jsonable(value: Any) -> Any:
    """NaN/inf -> None (JSON has no NaN), numpy scalars -> Python numbers, paths -> strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Path):
        return str(value)
    return value


def plot_table(df: pd.DataFrame, path: str | os.PathLike, title: str = "", ylabel: str = "score") -> Path:
    """A grouped bar chart: one group per column (benchmark), one bar per model (row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_cols, n_models = df.shape[1], df.shape[0]
    width = 0.8 / max(n_models, 1)
    fig, ax = plt.subplots(figsize=(min(40.0, max(6.0, 0.22 * n_cols * max(n_models, 2) + 3)), 5.0), layout="constrained")
    x = np.arange(n_cols)
    for i, (model, row) in enumerate(df.iterrows()):
        ax.bar(x + (i - (n_models - 1) / 2) * width, row.to_numpy(dtype=float), width, label=str(model))
    ax.set_xticks(x, [str(c) for c in df.columns], rotation=40, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    try:
        return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120), binary=True)
    finally:
        plt.close(fig)


def write_results(
    df: pd.DataFrame,
    output_dir: str | os.PathLike,
    meta: dict[str, Any],
    plot: bool = False,
    title: str = "",
    ylabel: str = "score",
) -> list[Path]:
    """`results.csv` (the table), `results.json` (the table and `meta`: data counts, models, protocol) and, with
    `plot`, `results.png` in `output_dir`."""
    out = Path(output_dir)
    written = [atomic_write(out / "results.csv", lambda f: df.to_csv(f, lineterminator="\n"))]
    payload = {
        **meta,
        "columns": list(df.columns),
        "results": {str(model): row for model, row in df.to_dict(orient="index").items()},
    }
    text = json.dumps(_jsonable(payload), indent=2, ensure_ascii=False) + "\n"
    written.append(atomic_write(out / "results.json", lambda f: f.write(text)))
    if plot:
        written.append(plot_table(df, out / "results.png", title=title, ylabel=ylabel))
    return written
