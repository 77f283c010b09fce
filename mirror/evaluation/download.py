"""Install the evaluation benchmarks into the layout the suite recognises: verified, resumable, atomic.

The facts (URLs or Hub ids, licences, citations, expected rows, checksums, which archive member goes where) are read
from `benchmark_sources.json` by `sources.py`, and the bytes are fetched by `fetch.py`; this file checks and places
them. `download()` is what `eval/download_benchmarks.py` runs. For each benchmark:

1. every URL it needs is downloaded once into `<output_dir>/.downloads/` (resumable, see `fetch.fetch`), and the
   archive checksum (when known) is checked; a Hub source is read with `fetch.hub_bytes`;
2. each file is taken from its download (or archive member), its sha256/sha1 (when known), row count (when known,
   else recorded as "unverified") and distinct source words (MUSE) are checked, and it is written into a staging
   folder `<output_dir>/.staging/`;
3. only when every file passed does the staging folder become `<output_dir>/<folder>` (`os.replace`), and the
   benchmark's entry in `<output_dir>/MANIFEST.json` is written (atomically). A failed benchmark leaves no folder
   (a previous complete one stays) and its cached partial download, so the next run resumes.

A failure (unreachable host, HTTP error, truncated body, checksum or row-count mismatch, bad archive, Hub error) is
one line naming the benchmark and the URL; the other benchmarks still run, and `download` returns the failures.
A benchmark whose manifest entry and files (sizes and sha256) still match is skipped unless `force`.
`mirror_url` (or `$MIRROR_BENCHMARK_MIRROR_URL`) serves every URL from a mirror (`fetch.mirrored`); `hub_dir`
replaces the Hub.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..atomic import atomic_write, replace_folder
from ..errors import DataError
from .datadir import default_data_dir
from .fetch import FileFailure, cache_path, check_digests, digest, fetch, hub_bytes, mirrored, read_member
from .sources import UNVERIFIED, Benchmark, FileSpec, load_sources, resolve_names

logger = logging.getLogger(__name__)

MANIFEST_NAME = "MANIFEST.json"
MIRROR_ENV = "MIRROR_BENCHMARK_MIRROR_URL"


class DownloadError(DataError):
    """One benchmark could not be fetched or verified: `<benchmark>: <url>: <reason>`."""


# --------------------------------------------------------------------------------------------------------------
# rows


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _text_lines(data: bytes) -> list[str]:
    return _text(data).splitlines()


def _nonblank_lines(data: bytes) -> int:
    return sum(1 for line in _text_lines(data) if line.strip())


def _csv_rows(data: bytes) -> int:
    return sum(1 for row in csv.reader(io.StringIO(_text(data))) if any(c.strip() for c in row))


ROW_COUNTERS: dict[str, Callable[[bytes], int]] = {
    "lines": lambda data: len(_text_lines(data)),
    "nonblank_lines": _nonblank_lines,
    "nonblank_lines_after_header": lambda data: max(_nonblank_lines(data) - 1, 0),
    "csv_rows_after_header": lambda data: max(_csv_rows(data) - 1, 0),
    "none": lambda data: 0,
}


def distinct_sources(data: bytes) -> int:
    """Distinct first words of a `source<TAB or space>target` dictionary."""
    return len({line.split()[0] for line in _text_lines(data) if line.split()})


# --------------------------------------------------------------------------------------------------------------
# one benchmark


def _verify(spec: FileSpec, data: bytes, fetched_from: str) -> dict[str, Any]:
    """Check one file's bytes against its spec; the manifest record of what was found."""
    check_digests(data, spec.checksums, spec.path)
    found = ROW_COUNTERS[spec.count](data)
    if spec.rows != UNVERIFIED and found != spec.rows:
        raise FileFailure(f"{spec.path}: {found} rows, expected {spec.rows}")
    words = distinct_sources(data) if spec.distinct_sources is not None else None
    if words != spec.distinct_sources:
        raise FileFailure(f"{spec.path}: {words} distinct source words, expected {spec.distinct_sources}")
    return {
        "path": spec.path,
        "source": spec.source,
        "fetched_from": fetched_from,
        "bytes": len(data),
        "sha256": digest(data, "sha256"),
        "checksum": "+".join(spec.checksums) or UNVERIFIED,
        "rows_expected": spec.rows,
        "rows_found": found if spec.count != "none" else None,
        "rows_counted_as": spec.count,
        "tally": spec.tally,
    }


def _url_bytes(
    bench: Benchmark, spec: FileSpec, url: str, output_dir: Path, fetched: dict[str, Path], progress: bool
) -> bytes:
    """The bytes of `spec` from `url` (its source or mirror), fetched and archive-checked once per benchmark."""
    if url not in fetched:
        dest = cache_path(output_dir, url)
        if not dest.exists():
            fetch(url, dest, progress, label=f"{bench.name}: {dest.name.split('-', 1)[1]}")
        check_digests(dest, bench.archive_checksums(spec.url) if spec.member else {}, "the archive")
        fetched[url] = dest
    return read_member(fetched[url], spec.member) if spec.member else fetched[url].read_bytes()


def download_benchmark(
    bench: Benchmark,
    output_dir: Path,
    mirror_url: str | None = None,
    hub_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fetch, verify and place one benchmark; its manifest entry. Raises `DownloadError` naming benchmark and URL."""
    staging_root = output_dir / ".staging"
    staging_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{bench.folder}.", dir=staging_root))
    fetched: dict[str, Path] = {}
    records = []
    try:
        for spec in bench.files:
            url = mirrored(spec.url, mirror_url) if spec.url else None
            where = spec.at(url) if url else spec.source + (f" from {hub_dir}" if hub_dir else "")
            try:
                if url:
                    data = _url_bytes(bench, spec, url, output_dir, fetched, progress)
                else:
                    data = hub_bytes(spec.hub, spec.writer, hub_dir)
                record = _verify(spec, data, where)
            except FileFailure as err:
                if url:  # a complete but wrong download is fetched afresh next time (a .part is resumed)
                    fetched.pop(url, None)
                    cache_path(output_dir, url).unlink(missing_ok=True)
                raise DownloadError(" ".join(f"{bench.name}: {where}: {err}".split())) from None  # one line
            target = staging / spec.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            records.append(record)
        replace_folder(staging, output_dir / bench.folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    for dest in fetched.values():
        dest.unlink(missing_ok=True)
    _remove_if_empty(output_dir / ".downloads")
    return _manifest_entry(bench, records, mirror_url, hub_dir)


def _manifest_entry(bench: Benchmark, records: list[dict], mirror_url: str | None, hub_dir) -> dict[str, Any]:
    """The manifest entry of `bench` placed with one record (`_verify`) per file."""
    checked = [r["checksum"] != UNVERIFIED for r in records]
    return {
        "folder": bench.folder,
        "suite": bench.suite,
        "sources": sorted({r["source"] for r in records}),
        "fetched_from": sorted({r["fetched_from"] for r in records}),
        "mirror_url": mirror_url,
        "hub_dir": str(hub_dir) if hub_dir else None,
        "license": bench.license,
        "citation": bench.citation,
        "homepage": bench.homepage,
        "groups": bench.groups or None,
        "rows_expected": bench.rows_expected,
        "rows_found": sum(r["rows_found"] for r in records if r["rows_found"] is not None and r["tally"]),
        "checksums": "all" if all(checked) else "some" if any(checked) else UNVERIFIED,
        "files": records,
        "completed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def read_manifest(output_dir: Path) -> dict[str, Any]:
    path = output_dir / MANIFEST_NAME
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return doc if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), dict) else {"benchmarks": {}}
    except (OSError, ValueError):
        return {"benchmarks": {}}


def is_complete(bench: Benchmark, output_dir: Path, manifest: dict[str, Any]) -> bool:
    """The manifest lists this benchmark with the same files, and each file still has its recorded size and sha256."""
    entry = manifest.get("benchmarks", {}).get(bench.name)
    if not entry or sorted(r["path"] for r in entry.get("files", [])) != sorted(f.path for f in bench.files):
        return False
    folder = output_dir / bench.folder
    for record in entry["files"]:
        path = folder / record["path"]
        if not path.is_file() or path.stat().st_size != record["bytes"] or digest(path, "sha256") != record["sha256"]:
            return False
    return True


# --------------------------------------------------------------------------------------------------------------
# many benchmarks


@dataclass
class DownloadReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # name -> one-line error

    def raise_for_failures(self) -> None:
        if self.failed:
            raise DataError(f"{len(self.failed)} benchmark(s) failed: " + "; ".join(self.failed.values()))


def download(
    output_dir: str | os.PathLike | None = None,
    names: Sequence[str] | None = None,
    force: bool = False,
    mirror_url: str | None = None,
    hub_dir: str | os.PathLike | None = None,
    groups: dict[str, Sequence[str]] | None = None,
    progress: bool = True,
    sources: dict[str, Benchmark] | str | os.PathLike | None = None,
) -> DownloadReport:
    """Fetch `names` (default: all) into `output_dir` (default: `default_data_dir()`); failures do not stop the rest.

    `groups` narrows a benchmark to some languages/pairs (`{"Tatoeba": ["fra", "deu"]}`, `["all"]` for every one).
    """
    output_dir = Path(output_dir) if output_dir is not None else default_data_dir()
    if not isinstance(sources, dict):
        sources = load_sources(sources)
    mirror_url = mirror_url or os.environ.get(MIRROR_ENV) or None
    names = resolve_names(names, sources)
    output_dir.mkdir(parents=True, exist_ok=True)
    report = DownloadReport()
    for name in names:
        manifest = read_manifest(output_dir)
        wanted = (groups or {}).get(name)
        had = manifest["benchmarks"].get(name, {}).get("groups")
        if wanted and had and "all" not in wanted:  # asking for more languages keeps those already there
            wanted = sorted(set(wanted) | set(had))
        bench = sources[name].select(wanted)
        if not force and is_complete(bench, output_dir, manifest):
            logger.info("%s: complete in %s, skipped (--force to fetch again)", bench.name, output_dir / bench.folder)
            report.skipped.append(bench.name)
            continue
        try:
            entry = download_benchmark(bench, output_dir, mirror_url, hub_dir, progress)
        except DownloadError as err:
            logger.error("%s", err)
            report.failed[bench.name] = str(err)
            continue
        manifest = read_manifest(output_dir)
        manifest["benchmarks"][bench.name] = entry
        manifest["about"] = "What python eval/download_benchmarks.py fetched here, and how it was checked."
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        atomic_write(output_dir / MANIFEST_NAME, lambda f: f.write(text))
        report.done.append(bench.name)
        logger.info("%s: %s rows in %s", bench.name, entry["rows_found"], output_dir / bench.folder)
    _remove_if_empty(output_dir / ".staging")
    return report


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
