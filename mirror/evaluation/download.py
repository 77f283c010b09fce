"""Fetch the evaluation benchmarks into the layout the suite recognises: verified, resumable, atomic.

The facts (URLs or Hub ids, licences, citations, expected rows, checksums, which archive member goes where) live in
`benchmark_sources.json` beside this module; this file only knows how to fetch, check and place bytes.

For each benchmark:

1. every URL it needs is downloaded once into `<output_dir>/.downloads/` under a `.part` name, with a tqdm bar;
   an existing `.part` is resumed with an HTTP `Range` request (a server that answers 200 instead restarts it);
   the bytes are renamed to their final cache name only when the length matches `Content-Length` and the archive
   checksum (when known) matches. A Hub source is read with `datasets.load_dataset(id, revision=..., split=...)`.
2. each file is taken from its download (or archive member), its sha256/sha1 (when known), row count (when known,
   else recorded as "unverified") and distinct source words (MUSE) are checked, and it is written into a staging
   folder `<output_dir>/.staging/`;
3. only when every file passed does the staging folder become `<output_dir>/<folder>` (`os.replace`), and the
   benchmark's entry in `<output_dir>/MANIFEST.json` is written (atomically). A failed benchmark leaves no folder
   (a previous complete one stays) and its cached partial download, so the next run resumes.

A failure (unreachable host, HTTP error, truncated body, checksum or row-count mismatch, bad archive, Hub error) is
one line naming the benchmark and the URL; the other benchmarks still run, and `download` returns the failures.
A benchmark whose manifest entry and files (sizes and sha256) still match is skipped unless `force`.

Offline mirrors: `mirror_url` (or `$MIRROR_BENCHMARK_MIRROR_URL`) replaces each URL's scheme with the mirror and
keeps host and path below it: `https://host/a/b.zip` -> `<mirror_url>/host/a/b.zip` (the layout `wget -x` writes).
`hub_dir` replaces the Hub: `<hub_dir>/<hub id>` is a `save_to_disk` folder or a folder of data files.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import http.client
import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import ConfigError, DataError
from .datadir import default_data_dir
from .report import atomic_write

logger = logging.getLogger(__name__)

SOURCES_FILE = Path(__file__).with_name("benchmark_sources.json")
MANIFEST_NAME = "MANIFEST.json"
MIRROR_ENV = "MIRROR_BENCHMARK_MIRROR_URL"
UNVERIFIED = "unverified"
TIMEOUT_S = 60
CHUNK = 1 << 16

FILE_KEYS = {"path", "url", "member", "hub", "writer", "sha256", "sha1", "count", "rows", "group", "distinct_sources", "tally"}
BENCH_KEYS = {
    "suite", "folder", "discovered_as", "discovered_as_template", "default_groups", "homepage", "license", "citation",
    "why", "sha256_source", "archives", "files",
}  # fmt: skip


class DownloadError(DataError):
    """One benchmark could not be fetched or verified: `<benchmark>: <url>: <reason>`."""


# --------------------------------------------------------------------------------------------------------------
# the sources file


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
    count: str = "lines"  # how rows are counted, see ROW_COUNTERS
    rows: int | str = UNVERIFIED
    group: str | None = None  # a language or pair, for selecting part of a benchmark
    distinct_sources: int | None = None  # distinct first-column words (MUSE: 1,500)
    tally: bool = True  # counted in the benchmark's total (False: inputs beside gold files, train dictionaries...)

    @property
    def source(self) -> str:
        """The URL (or Hub reference) named in errors and in the manifest."""
        if self.hub:
            return f"hf://datasets/{self.hub['id']}@{self.hub.get('revision', 'main')} (split {self.hub.get('split')})"
        return self.url + (f" [{self.member}]" if self.member else "")


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

    def select(self, groups: Sequence[str] | None) -> "Benchmark":
        """This benchmark narrowed to `groups` (None: its default groups, or all; ["all"]: all)."""
        wanted = list(groups) if groups else list(self.default_groups or [])
        if not wanted or wanted == ["all"]:
            return self
        unknown = sorted(set(wanted) - set(self.groups))
        if unknown:
            raise ConfigError(f"{self.name}: unknown language/pair {', '.join(unknown)}; known: {' '.join(self.groups)}")
        files = tuple(f for f in self.files if f.group in wanted)
        return Benchmark(**{**self.__dict__, "files": files})

    def expected_names(self) -> list[str]:
        """The task names `runner.discover` gives the downloaded files."""
        if self.discovered_as_template:
            return [self.discovered_as_template.format(group=g) for g in sorted({f.group for f in self.files})]
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
                raise ConfigError(f"{path}: benchmark {name}, file {spec.get('path')}: unknown key(s) {', '.join(sorted(bad))}")
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


# --------------------------------------------------------------------------------------------------------------
# fetching bytes


def mirrored(url: str, mirror_url: str | None) -> str:
    """`url` served by `mirror_url`: `scheme://host/path?q` -> `<mirror_url>/host/path?q` (None: `url` itself)."""
    if not mirror_url:
        return url
    parts = urllib.parse.urlsplit(url)
    tail = parts.netloc + parts.path + (f"?{parts.query}" if parts.query else "")
    return mirror_url.rstrip("/") + "/" + tail


def cache_path(output_dir: str | os.PathLike, url: str) -> Path:
    """Where the completed download of `url` is kept until its benchmark is placed (its partial twin: `.part`)."""
    name = Path(urllib.parse.urlsplit(url).path).name or "download"
    return Path(output_dir) / ".downloads" / f"{hashlib.sha1(url.encode()).hexdigest()[:12]}-{name}"


def part_path(output_dir: str | os.PathLike, url: str) -> Path:
    path = cache_path(output_dir, url)
    return path.with_name(path.name + ".part")


class _Failure(Exception):
    """A reason, turned into a `DownloadError` naming benchmark and URL by the caller."""


def fetch(url: str, dest: Path, progress: bool = True, label: str = "") -> Path:
    """Download `url` to `dest`, through `dest.part`: resumed with a Range request when the `.part` exists,
    renamed to `dest` only when complete (length = Content-Length). A truncated body keeps the `.part`."""
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "mirror-benchmark-download/1", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the .part is not a prefix of this file any more: start again
            part.unlink()
            return fetch(url, dest, progress, label)
        raise _Failure(f"HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise _Failure(f"unreachable ({getattr(err, 'reason', err)})") from None
    with resp:
        resumed = have and resp.status == 206 and _range_start(resp.headers.get("Content-Range")) == have
        if not resumed:
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if resumed else "wb") as out, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=label or dest.name, disable=not progress, leave=False
        ) as bar:
            try:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, OSError) as err:
                raise _Failure(f"truncated download ({type(err).__name__}); run again to resume") from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Failure(f"truncated download: {size} of {total} bytes; run again to resume")
    os.replace(part, dest)
    return dest


def _range_start(content_range: str | None) -> int | None:
    """`bytes 100-199/200` -> 100."""
    try:
        return int(content_range.split()[1].split("-")[0]) if content_range else None
    except (IndexError, ValueError):
        return None


def _digest(data: bytes, algo: str) -> str:
    return hashlib.new(algo, data).hexdigest()


def _file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_digests(data_or_path: bytes | Path, expected: dict[str, str | None], what: str) -> None:
    for algo, want in expected.items():
        if not want:
            continue
        got = _file_digest(data_or_path, algo) if isinstance(data_or_path, Path) else _digest(data_or_path, algo)
        if got != want:
            raise _Failure(f"{algo} mismatch for {what}: expected {want[:12]}…, got {got[:12]}…")


def read_member(archive: Path, member: str) -> bytes:
    """The bytes of `member` in a zip or tar archive; if that exact path is absent, the one member with its base
    name (archives re-packed with another top folder)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            return zf.read(_pick(names, member, archive))
    try:
        with tarfile.open(archive) as tf:
            names = [m.name for m in tf.getmembers() if m.isfile()]
            handle = tf.extractfile(_pick(names, member, archive))
            return handle.read()
    except tarfile.TarError:
        raise _Failure(f"not a zip or tar archive ({archive.stat().st_size} bytes)") from None


def _pick(names: list[str], member: str, archive: Path) -> str:
    if member in names:
        return member
    same = [n for n in names if n.rsplit("/", 1)[-1] == member.rsplit("/", 1)[-1]]
    if len(same) == 1:
        return same[0]
    raise _Failure(f"archive has no member {member}")


# --------------------------------------------------------------------------------------------------------------
# rows


def _text_lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines()


ROW_COUNTERS: dict[str, Callable[[bytes], int]] = {
    "lines": lambda data: len(_text_lines(data)),
    "nonblank_lines": lambda data: sum(1 for line in _text_lines(data) if line.strip()),
    "nonblank_lines_after_header": lambda data: max(sum(1 for line in _text_lines(data) if line.strip()) - 1, 0),
    "csv_rows_after_header": lambda data: max(
        sum(1 for row in csv.reader(io.StringIO(data.decode("utf-8", errors="replace"))) if any(c.strip() for c in row)) - 1, 0
    ),
    "none": lambda data: 0,
}


def distinct_sources(data: bytes) -> int:
    """Distinct first words of a `source<TAB or space>target` dictionary."""
    return len({line.split()[0] for line in _text_lines(data) if line.split()})


# --------------------------------------------------------------------------------------------------------------
# Hub sources


def load_hub_split(hub: dict[str, str], hub_dir: str | os.PathLike | None) -> Any:
    """The Hub split, or its stand-in under `hub_dir/<id>` (a `save_to_disk` folder or a folder of data files)."""
    import datasets

    split = hub.get("split", "test")
    if hub_dir is None:
        return datasets.load_dataset(hub["id"], revision=hub.get("revision"), split=split)
    local = Path(hub_dir) / hub["id"]
    if not local.is_dir():
        raise _Failure(f"no local copy at {local}")
    try:
        loaded = datasets.load_from_disk(str(local))
    except FileNotFoundError:
        return datasets.load_dataset(str(local), split=split)
    return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded


def write_stsb_release(rows: Any) -> bytes:
    """STS-B rows (MTEB columns) as the release's `sts-test.csv`: genre, file, year, id, score, sentence1, sentence2."""
    lines = []
    for i, row in enumerate(rows):
        cells = [str(row.get(k, "") or "") for k in ("genre", "dataset", "year", "sid")]
        cells += [repr(float(row["score"])), row["sentence1"], row["sentence2"]]
        if any(c != c.replace("\t", "").replace("\n", "").replace("\r", "") for c in cells):
            raise _Failure(f"row {i}: a tab or line break inside a field cannot be written as the release's TSV")
        lines.append("\t".join(cells) + "\n")
    return "".join(lines).encode("utf-8")


WRITERS: dict[str, Callable[[Any], bytes]] = {"stsb_release": write_stsb_release}


# --------------------------------------------------------------------------------------------------------------
# one benchmark


def _verify(spec: FileSpec, data: bytes, fetched_from: str) -> dict[str, Any]:
    """Check one file's bytes against its spec; the manifest record of what was found."""
    _check_digests(data, {"sha256": spec.sha256, "sha1": spec.sha1}, spec.path)
    found = ROW_COUNTERS[spec.count](data)
    if spec.rows != UNVERIFIED and found != spec.rows:
        raise _Failure(f"{spec.path}: {found} rows, expected {spec.rows}")
    if spec.distinct_sources is not None and distinct_sources(data) != spec.distinct_sources:
        raise _Failure(f"{spec.path}: {distinct_sources(data)} distinct source words, expected {spec.distinct_sources}")
    checks = [a for a in ("sha256", "sha1") if getattr(spec, a)]
    return {
        "path": spec.path,
        "source": spec.source,
        "fetched_from": fetched_from,
        "bytes": len(data),
        "sha256": _digest(data, "sha256"),
        "checksum": "+".join(checks) if checks else UNVERIFIED,
        "rows_expected": spec.rows,
        "rows_found": found if spec.count != "none" else None,
        "rows_counted_as": spec.count,
        "tally": spec.tally,
    }


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
            where = spec.source
            try:
                if spec.hub:
                    where = spec.source + (f" from {hub_dir}" if hub_dir else "")
                    try:
                        rows = load_hub_split(spec.hub, hub_dir)
                    except _Failure:
                        raise
                    except Exception as err:  # datasets/huggingface_hub raise many types; keep the first line
                        raise _Failure(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
                    data = WRITERS[spec.writer](rows)
                else:
                    url = mirrored(spec.url, mirror_url)
                    where = url + (f" [{spec.member}]" if spec.member else "")
                    if url not in fetched:
                        dest = cache_path(output_dir, url)
                        if not dest.exists():
                            fetch(url, dest, progress, label=f"{bench.name}: {dest.name.split('-', 1)[1]}")
                        expect = bench.archives.get(spec.url, {}) if spec.member else {}
                        try:
                            _check_digests(dest, {"sha256": expect.get("sha256"), "sha1": expect.get("sha1")}, "the archive")
                        except _Failure:
                            dest.unlink()  # a wrong download must not be reused
                            raise
                        fetched[url] = dest
                    data = read_member(fetched[url], spec.member) if spec.member else fetched[url].read_bytes()
                record = _verify(spec, data, where)
            except _Failure as err:
                if spec.url:  # a complete but wrong download is fetched afresh next time (a .part is resumed)
                    url = mirrored(spec.url, mirror_url)
                    fetched.pop(url, None)
                    cache_path(output_dir, url).unlink(missing_ok=True)
                raise DownloadError(" ".join(f"{bench.name}: {where}: {err}".split())) from None  # one line
            target = staging / spec.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            records.append(record)
        _place(staging, output_dir / bench.folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    for dest in fetched.values():
        dest.unlink(missing_ok=True)
    _remove_if_empty(output_dir / ".downloads")
    return _manifest_entry(bench, records, mirror_url, hub_dir)


def _place(staging: Path, target: Path) -> None:
    """Make `staging` the folder `target` (replacing an older one) with renames only."""
    old = None
    if target.exists():
        old = staging.with_name(staging.name + ".old")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _manifest_entry(bench: Benchmark, records: list[dict], mirror_url: str | None, hub_dir) -> dict[str, Any]:
    counted = [r for r in records if r["rows_found"] is not None and r["tally"]]
    unverified_rows = any(r["rows_expected"] == UNVERIFIED for r in counted)
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
        "groups": sorted({f.group for f in bench.files if f.group}) or None,
        "rows_expected": UNVERIFIED if unverified_rows else sum(r["rows_expected"] for r in counted),
        "rows_found": sum(r["rows_found"] for r in counted),
        "checksums": "all" if all(r["checksum"] != UNVERIFIED for r in records) else (
            "some" if any(r["checksum"] != UNVERIFIED for r in records) else UNVERIFIED),
        "files": records,
        "completed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip


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
        if not path.is_file() or path.stat().st_size != record["bytes"] or _file_digest(path, "sha256") != record["sha256"]:
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
        atomic_write(output_dir / MANIFEST_NAME, lambda f: f.write(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"))
        report.done.append(bench.name)
        logger.info("%s: %s rows in %s", bench.name, entry["rows_found"], output_dir / bench.folder)
    _remove_if_empty(output_dir / ".staging")
    return report


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def list_table(sources: dict[str, Benchmark]) -> str:
    """One line per benchmark: name, folder, source, expected rows, checksums."""
    lines = []
    for b in sources.values():
        origin = sorted({f.hub["id"] if f.hub else urllib.parse.urlsplit(f.url).netloc for f in b.files})
        files = b.select(None).files
        rows = [f.rows for f in files if f.count != "none" and f.tally]
        total = UNVERIFIED if UNVERIFIED in rows else sum(rows)
        sums = sum(1 for f in files if f.sha256 or f.sha1)
        extra = f"  [default {' '.join(b.default_groups)}; {len(b.groups)} in all]" if b.default_groups else ""
        lines.append(f"{b.name:14s} {b.folder + '/':13s} {', '.join(origin):40s} rows {total!s:>10s}  "
                     f"checksums {sums}/{len(files)}{extra}")  # fmt: skip
    return "\n".join(lines)


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="download_benchmarks.py", description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output_dir", default=None, help=f"default: {default_data_dir()} ($MIRROR_BENCHMARK_DATA)")
    parser.add_argument("--tasks", nargs="+", default=None, help="benchmark names or prefixes (default: all)")
    parser.add_argument("--tatoeba_languages", nargs="+", default=None, help="Tatoeba languages (ISO 639-3) or 'all'")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--force", action="store_true", help="fetch again even when complete")
    parser.add_argument("--mirror_url", default=None, help=f"serve every URL from <mirror_url>/<host>/<path> (${MIRROR_ENV})")
    parser.add_argument("--hub_dir", default=None, help="<hub_dir>/<hub id> replaces a Hugging Face dataset")
    parser.add_argument("--sources", default=None, help="another sources JSON (default: the packaged one)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None, description: str | None = None) -> DownloadReport | None:
    """What `eval/download_benchmarks.py` runs; a failure of any benchmark is a `DataError` listing them (exit 2)."""
    args = build_parser(description).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sources = load_sources(args.sources)
    if args.list:
        print(list_table(sources))
        return None
    groups = {"Tatoeba": args.tatoeba_languages} if args.tatoeba_languages else None
    report = download(
        args.output_dir, args.tasks, force=args.force, mirror_url=args.mirror_url, hub_dir=args.hub_dir,
        groups=groups, progress=not args.no_progress, sources=sources,
    )  # fmt: skip
    out = Path(args.output_dir) if args.output_dir else default_data_dir()
    print(f"{out}: {len(report.done)} fetched, {len(report.skipped)} already complete, {len(report.failed)} failed")
    report.raise_for_failures()
    return report
