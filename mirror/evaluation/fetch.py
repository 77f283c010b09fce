"""Getting a benchmark file's bytes: over HTTP (resumable), out of an archive, or from a Hugging Face dataset.

- `fetch(url, dest)` downloads through `dest.part` with a tqdm bar; an existing `.part` is resumed with an HTTP
  `Range` request (a server that answers 200 instead restarts it), and the bytes become `dest` only when their
  length matches `Content-Length`. `cache_path` names `dest` under `<output_dir>/.downloads/`.
- `mirrored(url, mirror_url)`: offline mirrors keep host and path below the mirror, `https://host/a/b.zip` ->
  `<mirror_url>/host/a/b.zip` (the layout `wget -x` writes).
- `read_member` takes one member out of a zip or tar archive; `digest`/`check_digests` hash bytes or a file.
- `hub_bytes` reads a split with `datasets.load_dataset(id, revision=..., split=...)`, or its stand-in under
  `<hub_dir>/<hub id>` (a `save_to_disk` folder or a folder of data files), and writes it in the release's format.

Every failure is a `FileFailure` carrying only the reason; the installer (`download.py`) names benchmark and URL.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Callable

TIMEOUT_S = 60
CHUNK = 1 << 16


class FileFailure(Exception):
    """Why one file could not be fetched or verified; turned into a `DownloadError` naming benchmark and URL."""


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
    """The partial download of `url`, resumed by the next `fetch`."""
    return _part(cache_path(output_dir, url))


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def fetch(url: str, dest: Path, progress: bool = True, label: str = "") -> Path:
    """Download `url` to `dest`, through `dest.part`: resumed with a Range request when the `.part` exists,
    renamed to `dest` only when complete (length = Content-Length). A truncated body keeps the `.part`."""
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part(dest)
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
        raise FileFailure(f"HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise FileFailure(f"unreachable ({getattr(err, 'reason', err)})") from None
    with resp:
        resumed = have and resp.status == 206 and _range_start(resp.headers.get("Content-Range")) == have
        if not resumed:
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with (
            open(part, "ab" if resumed else "wb") as out,
            tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=label or dest.name,
                 disable=not progress, leave=False) as bar,
        ):  # fmt: skip
            try:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, OSError) as err:
                raise FileFailure(f"truncated download ({type(err).__name__}); run again to resume") from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise FileFailure(f"truncated download: {size} of {total} bytes; run again to resume")
    os.replace(part, dest)
    return dest


def _range_start(content_range: str | None) -> int | None:
    """`bytes 100-199/200` -> 100."""
    try:
        return int(content_range.split()[1].split("-")[0]) if content_range else None
    except (IndexError, ValueError):
        return None


def digest(data: bytes | Path, algo: str) -> str:
    """The hex digest of `data`: bytes, or a file read in 1 MiB chunks."""
    if not isinstance(data, Path):
        return hashlib.new(algo, data).hexdigest()
    h = hashlib.new(algo)
    with open(data, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_digests(data: bytes | Path, expected: dict[str, str | None], what: str) -> None:
    """Fail unless `data` has each `{algorithm: hex digest}` in `expected` (a None digest is not checked)."""
    for algo, want in expected.items():
        if not want:
            continue
        got = digest(data, algo)
        if got != want:
            raise FileFailure(f"{algo} mismatch for {what}: expected {want[:12]}…, got {got[:12]}…")


def read_member(archive: Path, member: str) -> bytes:
    """The bytes of `member` in a zip or tar archive; if that exact path is absent, the one member with its base
    name (archives re-packed with another top folder)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            return zf.read(_pick(names, member))
    try:
        with tarfile.open(archive) as tf:
            names = [m.name for m in tf.getmembers() if m.isfile()]
            return tf.extractfile(_pick(names, member)).read()
    except tarfile.TarError:
        raise FileFailure(f"not a zip or tar archive ({archive.stat().st_size} bytes)") from None


def _pick(names: list[str], member: str) -> str:
    if member in names:
        return member
    same = [n for n in names if n.rsplit("/", 1)[-1] == member.rsplit("/", 1)[-1]]
    if len(same) == 1:
        return same[0]
    raise FileFailure(f"archive has no member {member}")


def load_hub_split(hub: dict[str, str], hub_dir: str | os.PathLike | None) -> Any:
    """The Hub split, or its stand-in under `hub_dir/<id>` (a `save_to_disk` folder or a folder of data files)."""
    import datasets

    split = hub.get("split", "test")
    if hub_dir is None:
        return datasets.load_dataset(hub["id"], revision=hub.get("revision"), split=split)
    local = Path(hub_dir) / hub["id"]
    if not local.is_dir():
        raise FileFailure(f"no local copy at {local}")
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
            raise FileFailure(f"row {i}: a tab or line break inside a field cannot be written as the release's TSV")
        lines.append("\t".join(cells) + "\n")
    return "".join(lines).encode("utf-8")


WRITERS: dict[str, Callable[[Any], bytes]] = {"stsb_release": write_stsb_release}


def hub_bytes(hub: dict[str, str], writer: str, hub_dir: str | os.PathLike | None) -> bytes:
    """The Hub split (see `load_hub_split`) written as its release's file by `WRITERS[writer]`."""
    try:
        rows = load_hub_split(hub, hub_dir)
    except FileFailure:
        raise
    except Exception as err:  # datasets/huggingface_hub raise many types; keep the first line
        raise FileFailure(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
    return WRITERS[writer](rows)
