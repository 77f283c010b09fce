"""Atomic writes: a file or a folder appears complete under its name, or not at all.

* `atomic_write(path, write)`: a file written through `write(handle)` into a temporary sibling, fsynced, then
  renamed over `path` (`os.replace`). `write_text(path, text)` is the common case.
* `folder_swap(dest)`: a context manager that yields a fresh `<dest>.tmp` folder to fill; on a clean exit the
  folder replaces `dest` (an earlier `dest` is moved to `<dest>.old` first and deleted after), on an exception it
  is left as `<dest>.tmp`, so nothing incomplete ever carries the final name.

An interrupted run therefore leaves either the previous file or folder or the new one, never half of one. This
module imports nothing from mirror: every writer in the package uses it.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["atomic_write", "folder_swap", "write_text"]


def atomic_write(path: str | os.PathLike, write: Callable[[io.IOBase], None], binary: bool = False) -> Path:
    """Write a file through `write(handle)` into a temporary sibling, then rename it over `path`.

    Text handles are UTF-8 with `newline=""` (what `write` writes is what the file holds)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600 files; these are ordinary files
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """`atomic_write` of a UTF-8 string."""
    return atomic_write(path, lambda f: f.write(text))


@contextmanager
def folder_swap(dest: str | os.PathLike, build: bool = True) -> Iterator[Path]:
    """Yield `<dest>.tmp` (emptied) to be filled; on a clean exit it replaces `dest`.

    build=False: this process only waits for others to fill the folder (several processes saving one model): the
    temporary folder is neither cleared nor swapped here."""
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".tmp")
    if build and tmp.exists():
        shutil.rmtree(tmp)
    yield tmp
    if build:
        replace_folder(tmp, dest)


def replace_folder(src: Path, dest: Path) -> None:
    """Move the complete folder `src` to `dest`; an existing `dest` goes to `<dest>.old` and is deleted after."""
    old = dest.with_name(dest.name + ".old")
    if dest.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(dest, old)
    os.replace(src, dest)
    if old.exists():
        shutil.rmtree(old)
