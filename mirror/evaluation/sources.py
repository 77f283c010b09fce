"""The benchmark sources file, `benchmark_sources.json`: what each benchmark's files are and how they are checked.

`load_sources()` reads it into `Benchmark`s of `FileSpec`s (unknown keys fail); `resolve_names` turns `--tasks`
into benchmark names, `Benchmark.select` narrows one to some languages/pairs, and `list_table` is the `--list`
table. Nothing here fetches: that is `fetch.py`; checking and placing the files is `download.py`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..errors import ConfigError

SOURCES_FILE = Path(__file__).with_name("benchmark_sources.json")
UNVERIFIED = "unverified"
DIGESTS = ("sha256", "sha1")  # the checksums a file or archive may carry

FILE_KEYS = {
    "path", "url", "member", "hub", "writer", "sha256", "sha1", "count", "rows", "group", "distinct_sources", "tally",
}  # fmt: skip
BENCH_KEYS = {
    "suite", "folder", "discovered_as", "discovered_as_template", "default_groups", "homepage", "license", "citation",
    "why", "sha256_source", "archives", "files",
}  # fmt: skip


def _known(get: Callable[[str], str | None]) -> dict[str, str]:
    """{algorithm: hex digest} of the checksums that `get(algorithm)` knows."""
    return {algo: get(algo) for algo in DIGESTS if get(algo)}


@dataclass(frozen=True)
class FileSpec:
    """One file of a benchmark: where its bytes come from, where it goes, how it is checked."""

    path: str  # inside the benchmark's folder
    url: str | None = None
    member: str | None = None  # inside the archive at `url`
    hub: dict[str, str] | None = None  # {"id", "revision", "split"}
    writer: str | None = None  # turns Hub rows into the release's file format
    sha256: str | None = None
    sha1: str | None = None
    count: str = "lines"  # how rows are counted, see download.ROW_COUNTERS ("none": not counted)
    rows: int | str = UNVERIFIED
    group: str | None = None  # a language or pair, for selecting part of a benchmark
    distinct_sources: int | None = None  # distinct first-column words (MUSE: 1,500)
    tally: bool = True  # counted in the benchmark's total (False: inputs beside gold files, train dictionaries...)

    @property
    def source(self) -> str:
        """The URL (or Hub reference) named in errors and in the manifest."""
        if self.hub:
            return f"hf://datasets/{self.hub['id']}@{self.hub.get('revision', 'main')} (split {self.hub.get('split')})"
        return self.at(self.url)

    def at(self, url: str) -> str:
        """This file's bytes at `url` (the source URL or its mirror): the URL, and the archive member if any."""
        return url + (f" [{self.member}]" if self.member else "")

    @property
    def checksums(self) -> dict[str, str]:
        """{algorithm: hex digest} of the checksums this file is verified with."""
        return _known(lambda algo: getattr(self, algo))

    @property
    def tallied(self) -> bool:
        """Its rows count towards the benchmark's total."""
        return self.tally and self.count != "none"


@dataclass(frozen=True)
class Benchmark:
    name: str
    suite: str
    folder: str
    license: str
    citation: str
    homepage: str
    why: str
    files: tuple[FileSpec, ...]
    archives: dict[str, dict[str, str]] = field(default_factory=dict)
    discovered_as: tuple[str, ...] = ()
    discovered_as_template: str | None = None
    default_groups: tuple[str, ...] | None = None
    sha256_source: str | None = None

    @property
    def groups(self) -> list[str]:
        return sorted({f.group for f in self.files if f.group})

    @property
    def rows_expected(self) -> int | str:
        """The rows of its tallied files, or "unverified" when any of them has no known count."""
        rows = [f.rows for f in self.files if f.tallied]
        return UNVERIFIED if UNVERIFIED in rows else sum(rows)

    def archive_checksums(self, url: str) -> dict[str, str]:
        """{algorithm: hex digest} of the whole archive at `url` (the source URL), where known."""
        return _known(self.archives.get(url, {}).get)

    def select(self, groups: Sequence[str] | None) -> "Benchmark":
        """This benchmark narrowed to `groups` (None: its default groups, or all; ["all"]: all)."""
        wanted = list(groups) if groups else list(self.default_groups or [])
        if not wanted or wanted == ["all"]:
            return self
        unknown = sorted(set(wanted) - set(self.groups))
        if unknown:
            known = " ".join(self.groups)
            raise ConfigError(f"{self.name}: unknown language/pair {', '.join(unknown)}; known: {known}")
        return dataclasses.replace(self, files=tuple(f for f in self.files if f.group in wanted))

    def expected_names(self) -> list[str]:
        """The task names `suite.discover` gives the downloaded files."""
        if self.discovered_as_template:
            return [self.discovered_as_template.format(group=g) for g in self.groups]
        return list(self.discovered_as)


def load_sources(path: str | os.PathLike | None = None) -> dict[str, Benchmark]:
    """The benchmarks of a sources file (default: the packaged `benchmark_sources.json`), by name; unknown keys fail."""
    path = Path(path) if path is not None else SOURCES_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read the benchmark sources ({err})") from None
    out: dict[str, Benchmark] = {}
    for name, entry in doc.get("benchmarks", {}).items():
        unknown = set(entry) - BENCH_KEYS
        if unknown:
            raise ConfigError(f"{path}: benchmark {name}: unknown key(s) {', '.join(sorted(unknown))}")
        files = []
        for spec in entry.get("files", []):
            bad = set(spec) - FILE_KEYS
            if bad:
                where = f"{path}: benchmark {name}, file {spec.get('path')}"
                raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(bad))}")
            files.append(FileSpec(**spec))
        out[name] = Benchmark(
            name=name,
            files=tuple(files),
            discovered_as=tuple(entry.get("discovered_as", ())),
            default_groups=tuple(entry["default_groups"]) if entry.get("default_groups") else None,
            **{k: entry.get(k) for k in ("suite", "folder", "license", "citation", "homepage", "why", "sha256_source")},
            archives=entry.get("archives", {}),
            discovered_as_template=entry.get("discovered_as_template"),
        )
    return out


def resolve_names(names: Sequence[str] | None, sources: dict[str, Benchmark]) -> list[str]:
    """Benchmark names from `--tasks` (case-insensitive; a prefix such as `BLI` or `STS1` picks every match)."""
    if not names:
        return list(sources)
    chosen: list[str] = []
    for want in names:
        exact = [n for n in sources if n.lower() == want.lower()]
        hits = exact or [n for n in sources if n.lower().startswith(want.lower())]
        if not hits:
            raise ConfigError(f"--tasks {want}: no such benchmark; known: {', '.join(sources)}")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def list_table(sources: dict[str, Benchmark]) -> str:
    """One line per benchmark: name, folder, source, expected rows, checksums (of its default selection)."""
    lines = []
    for b in sources.values():
        origin = sorted({f.hub["id"] if f.hub else urllib.parse.urlsplit(f.url).netloc for f in b.files})
        chosen = b.select(None)
        sums = sum(1 for f in chosen.files if f.checksums)
        extra = f"  [default {' '.join(b.default_groups)}; {len(b.groups)} in all]" if b.default_groups else ""
        lines.append(f"{b.name:14s} {b.folder + '/':13s} {', '.join(origin):40s} rows {chosen.rows_expected!s:>10s}  "
                     f"checksums {sums}/{len(chosen.files)}{extra}")  # fmt: skip
    return "\n".join(lines)
