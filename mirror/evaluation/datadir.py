"""Where the benchmark files live: one default folder, shared by the downloader and every evaluation command.

`default_data_dir()` is `$MIRROR_BENCHMARK_DATA` when that is set, else `$XDG_CACHE_HOME/mirror/benchmarks`
(`~/.cache/mirror/benchmarks`), the folder `python eval/download_benchmarks.py` fills. `require_data_dir` turns a
missing folder into one line that says which command fills it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

ENV_VAR = "MIRROR_BENCHMARK_DATA"
DOWNLOAD_COMMAND = "python eval/download_benchmarks.py"


def default_data_dir() -> Path:
    """`$MIRROR_BENCHMARK_DATA`, else `$XDG_CACHE_HOME/mirror/benchmarks` (XDG_CACHE_HOME defaults to ~/.cache)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "mirror" / "benchmarks"


def require_data_dir(path: str | os.PathLike | None) -> Path:
    """`path` (or the default folder when None) if it is a folder; else a one-line `DataError` naming the command
    that fills it."""
    folder = Path(path).expanduser() if path is not None else default_data_dir()
    if folder.is_dir():
        return folder
    if folder.exists():
        raise DataError(f"--data_dir {folder}: not a folder")
    fill = DOWNLOAD_COMMAND if path is None else f"{DOWNLOAD_COMMAND} --output_dir {folder}"
    raise DataError(f"--data_dir {folder}: no such folder; fetch the benchmarks into it with `{fill}`")
