"""Benchmarks found under a data folder: what a task is, how files are walked, named and selected.

Each evaluator module (`sts`, `lexical`, `crosslingual`) has a `find_tasks(data_dir)` that recognises its
benchmarks by file name and layout anywhere below `data_dir` and returns `Task`s. A task knows its files, how to
load them (a loader returning lists) and how to score them (a scorer taking an `encode` function and returning a
flat dict), and which table columns its scores fill.

Names: a task is called after its benchmark (`STS12`, `STS-B`, `Multi-SimLex FRA`, `BLI en-de MUSE`). When a folder
holds several copies of one benchmark (`sts12/original` and `sts12/senteval`), each copy is named after the part of
its path that differs (`STS12 original`, `STS12 senteval`); copies whose loaded data is identical are scored once.

Files that are not benchmarks never stop a run. Three kinds of file, three outcomes:

* a file named as a release names its benchmark file (`SimLex-999.txt`, `MEN_dataset_natural_form_full`,
  `STS.input.<subset>.txt`, `en-de.5000-6500.txt`, ...) is that benchmark: if it does not parse, the run stops
  with a `DataError` naming the file and line (a damaged download should not pass unnoticed);
* a file a release ships beside its benchmark files (readmes, licences, instructions, perl scorers, archives,
  annotator and agreement files, baseline outputs, train/dev splits) is never read;
* a file caught only by a broad name pattern (a name containing `wordsim` or a `men` token, `<lang>.tsv` in a
  Multi-SimLex folder, any `*.<src>-<tgt>.*test*` dictionary) becomes an `optional` task: if it does not load,
  it is skipped with a note (`suite.load_tasks`) that reaches results.json and the printed `note:` lines.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..errors import ConfigError, DataError

# Files that document a data set rather than hold one, and what else releases ship beside their data: scorer
# scripts, archives (STS14's sts2012-test.tgz, STS15's STS.answers-forums.zip), licence notes
# (STS.input.answers-forums.LICENSE).
IGNORED_NAMES = re.compile(
    r"^(readme|license|licence|source|copying|sha\d*sums|md5sums|00-readme|instructions)([._-].*)?$"
    r"|\.(pl|py|sh|zip|tgz|gz|bz2|xz|tar|7z|pdf|docx?|license|licence)$",
    re.I,
)


@dataclass(frozen=True)
class Metric:
    """One score of a task and the column it fills: `column = task name + suffix`.

    average: the average column it counts towards (None: shown but not averaged, e.g. STS "wmean").
    detail: shown only on request (`--per_subset`).
    """

    key: str
    suffix: str = ""
    average: str | None = "avg"
    detail: bool = False


@dataclass
class Task:
    """A benchmark copy found on disk: files, loader, scorer and the metrics it reports."""

    benchmark: str  # e.g. "STS12", "SICK-R", "Multi-SimLex FRA", "BLI en-de MUSE", "Tatoeba fra-eng"
    family: str  # e.g. "STS" (STS12-16), "Multi-SimLex", "BLI", "Tatoeba": what `--tasks` can name for a group
    files: tuple[Path, ...]
    location: Path  # the folder (or file) whose path tells copies of one benchmark apart
    load: Callable[[], Any]
    score: Callable[..., dict[str, float]]  # score(encode, data) -> flat dict
    metrics: tuple[Metric, ...]
    order: tuple = ()
    variant: str = ""
    notes: tuple[str, ...] = ()  # what discovery skipped in its files and why: they reach results.json
    optional: bool = False  # found by a broad name pattern only: a load failure skips it with a note

    @property
    def name(self) -> str:
        return f"{self.benchmark} {self.variant}" if self.variant else self.benchmark

    def columns(self, detail: bool = False) -> list[tuple[str, Metric]]:
        return [(self.name + m.suffix, m) for m in self.metrics if detail or not m.detail]


def walk_files(data_dir: str | os.PathLike) -> Iterator[Path]:
    """Every regular file below `data_dir` (recursively, sorted, hidden entries and documentation skipped)."""
    root = Path(data_dir)
    if not root.exists():
        raise DataError(f"--data_dir {root}: no such folder")
    if not root.is_dir():
        raise DataError(f"--data_dir {root}: not a folder")
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or IGNORED_NAMES.match(name):
                continue
            path = Path(dirpath) / name
            if path.is_file():
                yield path


def name_tokens(name: str) -> list[str]:
    """'EN-WS-353-SIM.txt' -> ['en', 'ws', '353', 'sim', 'txt']."""
    return [t for t in re.split(r"[^0-9a-z]+", name.lower()) if t]


def squash(text: str) -> str:
    """Lower case, letters and digits only: 'Multi-SimLex' -> 'multisimlex', 'Human (mean)' -> 'humanmean'."""
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def relative_parts(path: Path, data_dir: Path) -> tuple[str, ...]:
    try:
        return Path(os.path.relpath(path, data_dir)).parts
    except ValueError:  # another drive on Windows
        return path.parts


def relative_name(path: Path, data_dir: Path) -> str:
    """`path` below `data_dir` as a slash-separated string, as the tables and listings show it."""
    return "/".join(relative_parts(path, data_dir))


def assign_variants(tasks: list[Task], data_dir: Path) -> None:
    """Give copies of one benchmark distinct names from the part of their path that differs."""
    groups: dict[str, list[Task]] = {}
    for task in tasks:
        groups.setdefault(task.benchmark, []).append(task)
    for group in groups.values():
        if len(group) == 1:
            group[0].variant = ""
            continue
        dirs = [relative_parts(t.location if t.location.is_dir() else t.location.parent, data_dir) for t in group]
        prefix = 0
        while all(len(d) > prefix for d in dirs) and len({d[prefix] for d in dirs}) == 1:
            prefix += 1
        suffix = 0
        while all(len(d) > prefix + suffix for d in dirs) and len({d[len(d) - 1 - suffix] for d in dirs}) == 1:
            suffix += 1
        rests = [d[prefix : len(d) - suffix] for d in dirs]
        labels = [r[0] if r else "" for r in rests]  # the first differing folder, if that tells them apart
        if len(set(labels)) < len(labels):
            labels = ["/".join(r) for r in rests]
        clashes = {label for label in labels if not label or labels.count(label) > 1}
        labels = [
            label if label not in clashes else f"{label}/{t.location.name}" if label else t.location.name
            for label, t in zip(labels, group)
        ]
        if len(set(labels)) < len(labels):  # still ambiguous: fall back to the whole relative path
            labels = ["/".join(relative_parts(t.location, data_dir)) for t in group]
        for task, label in zip(group, labels):
            task.variant = label


def sort_tasks(tasks: Iterable[Task]) -> list[Task]:
    return sorted(tasks, key=lambda t: (t.order, t.name, str(t.location)))


def finish(tasks: list[Task], data_dir: Path) -> list[Task]:
    """Name copies apart and put tasks in table order."""
    tasks = sort_tasks(tasks)
    assign_variants(tasks, data_dir)
    return sort_tasks(tasks)


def select_tasks(tasks: list[Task], patterns: list[str] | None, suite: str) -> list[Task]:
    """The tasks named by `--tasks`: a task name, a benchmark or a family (`STS12`, `Multi-SimLex`, `BLI`),
    case-insensitive, shell wildcards allowed (`'BLI en-*'`). A pattern that names nothing is an error."""
    if not patterns:
        return tasks
    chosen: list[Task] = []
    for pattern in patterns:
        pat = pattern.casefold()
        hits = [
            t
            for t in tasks
            if any(fnmatch.fnmatchcase(c.casefold(), pat) for c in (t.name, t.benchmark, t.family))
        ]
        if not hits:
            available = ", ".join(dict.fromkeys(t.name for t in tasks)) or "none"
            raise ConfigError(f"--tasks {pattern!r}: no {suite} benchmark of that name under --data_dir; found: {available}")
        chosen.extend(t for t in hits if t not in chosen)
    return sort_tasks(chosen)
