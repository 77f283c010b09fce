"""evaluation/download.py (with sources.py and fetch.py), offline: fixture releases served from 127.0.0.1 in the
shapes of the real sources.

The fixture sources file is the packaged one with each file's bytes replaced by a few made-up lines of the same
format (and its checksums/rows recomputed where the real file has them), zipped or tarred where the real file is an
archive member; the HTTP server serves them at `<server>/<host>/<path>` (the `--mirror_url` rule) and a
`save_to_disk` folder stands in for the Hub dataset.
"""

import copy
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mirror.errors import ConfigError, DataError
from mirror.evaluation import download as dl
from mirror.evaluation import fetch
from mirror.evaluation import sources as src
from mirror.evaluation.suite import discover

REPO = Path(__file__).resolve().parents[1]
SCORE = ["4.2", "1.0", "3.5", "0.6", "2.8"]
MEN_FILE = "MEN_dataset_natural_form_full"
MSL_LANGS = "ARA CMN CYM ENG EST FIN FRA HEB POL RUS SPA SWA YUE".split()


# ---------------------------------------------------------------------------------------------------- fixtures


def fixture_bytes(path: str) -> bytes:
    """A few lines in the format of the released file `path` (made up; parseable by the suite's loaders)."""
    name = path.rsplit("/", 1)[-1]
    if ".gs." in name:
        text = "4.2\n\n3.5\n0.6\n2.8\n"  # a blank line = an unscored pair
    elif ".input." in name:
        words = ("guitar", "flute", "drums", "piano", "cello")
        text = "".join(f"a man plays {w}\ta man is playing {w}\n" for w in words)
    elif name == "SICK_test_annotated.txt":
        text = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n" + "".join(
            f"{i}\tA dog runs {w}\tA dog is running {w}\t{s}\tNEUTRAL\n" for i, (w, s) in enumerate(zip("abcd", SCORE))
        )
    elif name == "SimLex-999.txt":
        text = "word1\tword2\tPOS\tSimLex999\tconc(w1)\n" + "".join(
            f"{a}\t{b}\tN\t{s}\t4.0\n" for (a, b), s in zip([("old", "new"), ("cup", "mug"), ("car", "bus")], SCORE)
        )
    elif name == "scores.csv":
        text = "ID,ENG 1,ENG 2,PoS,scores," + ",".join(MSL_LANGS) + "\n" + "".join(
            f"{i},w{i},v{i},nouns,x," + ",".join(SCORE[(i + j) % 5] for j in range(len(MSL_LANGS))) + "\n"
            for i in range(1, 4)
        )
    elif name == "translation.csv":
        text = "ID,ENG 1,ENG 2,PoS," + ",".join(f"{L} 1,{L} 2" for L in MSL_LANGS) + "\n" + "".join(
            f"{i},w{i},v{i},nouns," + ",".join(f"{L.lower()}{i}a,{L.lower()}{i}b" for L in MSL_LANGS) + "\n"
            for i in range(1, 4)
        )
    elif name == "combined.csv":
        text = "Word 1,Word 2,Human (mean)\nlove,sex,6.77\ntiger,cat,7.35\nbook,paper,7.46\n"
    elif name.startswith("wordsim_"):
        text = "tiger\tcat\t7.35\nplane\tcar\t5.77\nsun\tmoon\t6.1\n"
    elif name.startswith("MEN_"):
        text = "sun sunlight 50.000000\nbakery bread 45.000000\nlake water 40.000000\n"
    elif name.startswith("tatoeba."):
        side = name.rsplit(".", 1)[-1]
        text = "".join(f"{side} sentence {i}.\n" for i in range(3))
    elif name.endswith((".5000-6500.txt", ".tsv")):
        text = "".join(f"src{i}\ttgt{i}\n" for i in range(4)) + "src0\ttgt9\n"
    else:
        text = "readme\n"
    return text.encode("utf-8")


def archive_bytes(url: str, members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    if url.endswith(".zip"):
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    else:
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


STSB_ROWS = {
    "split": ["test"] * 4, "genre": ["main-captions"] * 4, "dataset": ["MSRvid"] * 4, "year": ["2012test"] * 4,
    "sid": ["0001", "0002", "0003", "0004"], "score": [5.0, 4.75, 0.5, 2.4],
    "sentence1": ["A girl is styling her hair.", "A man plays.", "A cat.", 'He said "hi".'],
    "sentence2": ["A girl is brushing her hair.", "A man is playing.", "A dog.", "He said hello."],
}  # fmt: skip


def build_fixture(tmp: Path) -> tuple[dict, dict[str, bytes]]:
    """(the real sources JSON with fixture facts, {url path served: bytes}) + the Hub stand-in under tmp/hub."""
    doc = json.loads(src.SOURCES_FILE.read_text(encoding="utf-8"))
    served: dict[str, bytes] = {}
    archives: dict[str, dict[str, bytes]] = {}
    for bench in doc["benchmarks"].values():
        for spec in bench["files"]:
            data = fixture_bytes(spec["path"])
            if spec.get("hub"):
                data = fetch.write_stsb_release([dict(zip(STSB_ROWS, r)) for r in zip(*STSB_ROWS.values())])
            for algo in ("sha256", "sha1"):
                if spec.get(algo):
                    spec[algo] = hashlib.new(algo, data).hexdigest()
            if spec.get("rows") != src.UNVERIFIED:
                spec["rows"] = dl.ROW_COUNTERS[spec["count"]](data)
            if spec.get("distinct_sources"):
                spec["distinct_sources"] = dl.distinct_sources(data)
            if spec.get("member"):
                archives.setdefault(spec["url"], {})[spec["member"]] = data
            elif spec.get("url"):
                served[spec["url"]] = data
        for url, sums in bench.get("archives", {}).items():
            blob = archive_bytes(url, archives[url])
            for algo in sums:
                sums[algo] = hashlib.new(algo, blob).hexdigest()
    for url, members in archives.items():
        served[url] = archive_bytes(url, members)
    import datasets

    hub = doc["benchmarks"]["STS-B"]["files"][0]["hub"]
    datasets.DatasetDict({"test": datasets.Dataset.from_dict(STSB_ROWS)}).save_to_disk(str(tmp / "hub" / hub["id"]))
    return doc, {"/" + fetch.mirrored(url, "x")[2:]: data for url, data in served.items()}


class Server:
    """127.0.0.1, port 0; serves `files` by path, honours Range; `broken[path]` = "404" | "truncate" | "garbage"."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.broken, self.requests, self.honour_range = files, {}, [], True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range")))
                mode = outer.broken.get(self.path)
                data = outer.files.get(self.path)
                if data is None or mode == "404":
                    self.send_error(404, "Not Found")
                    return
                if mode == "garbage":
                    data = b"<html>moved</html>"
                start = 0
                rng = self.headers.get("Range")
                if rng and outer.honour_range:
                    start = int(re.match(r"bytes=(\d+)-", rng).group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if mode == "truncate" else body)
                if mode == "truncate":
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def fixture_release(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("release")
    doc, files = build_fixture(tmp)
    server = Server(files)
    yield {"doc": doc, "server": server, "hub_dir": tmp / "hub"}
    server.close()


@pytest.fixture
def env(fixture_release, tmp_path):
    """A fresh output folder, the fixture sources (a copy to edit), the server (reset) and a runner."""
    server = fixture_release["server"]
    server.broken.clear()
    server.requests.clear()
    server.honour_range = True
    doc = copy.deepcopy(fixture_release["doc"])
    out = tmp_path / "bench"

    def run(names=None, sources=None, **kw):
        sources = sources if sources is not None else doc
        path = tmp_path / "sources.json"
        path.write_text(json.dumps(sources), encoding="utf-8")
        kw.setdefault("mirror_url", server.url)
        return dl.download(out, names, hub_dir=fixture_release["hub_dir"], progress=False, sources=path, **kw)

    hub_dir = fixture_release["hub_dir"]
    return {"doc": doc, "server": server, "out": out, "run": run, "tmp": tmp_path, "hub_dir": hub_dir}


def served_path(url: str) -> str:
    return "/" + fetch.mirrored(url, "x")[2:]


def first_url(doc, name):
    return next(f["url"] for f in doc["benchmarks"][name]["files"] if f.get("url"))


# ---------------------------------------------------------------------------------------------------- the real sources


def test_real_sources_are_complete_and_in_recognised_layouts():
    doc = json.loads(src.SOURCES_FILE.read_text(encoding="utf-8"))
    sources = src.load_sources()
    assert set(sources) == {
        "STS12", "STS13", "STS14", "STS15", "STS16", "STS-B", "SICK-R", "SimLex-999", "Multi-SimLex", "WordSim-353",
        "MEN", "BLI MUSE", "BLI XLING", "Tatoeba",
    }  # fmt: skip
    for name, bench in sources.items():
        for key in ("license", "citation", "homepage", "why", "suite", "folder"):
            assert getattr(bench, key), f"{name}: no {key}"
        assert bench.suite in ("sts", "lexical", "crosslingual")
        assert bench.expected_names(), name
        for spec in bench.files:
            assert bool(spec.url) != bool(spec.hub), f"{name}/{spec.path}: exactly one of url, hub"
            if spec.url:
                assert spec.url.startswith(("http://", "https://")) and "shared" not in spec.url, spec.url
            else:
                assert {"id", "revision", "split"} <= set(spec.hub)
                assert re.fullmatch(r"[0-9a-f]{40}", spec.hub["revision"])
                assert spec.writer in fetch.WRITERS
            assert spec.rows == src.UNVERIFIED or (isinstance(spec.rows, int) and spec.rows > 0), (name, spec.path)
            assert spec.count in dl.ROW_COUNTERS
            assert spec.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
            assert spec.sha1 is None or re.fullmatch(r"[0-9a-f]{40}", spec.sha1)
        for url in bench.archives:
            assert any(f.url == url and f.member for f in bench.files), f"{name}: archive {url} has no member"
    raw = doc["benchmarks"]
    for name, pairs in {"STS12": 3108, "STS13": 1500, "STS14": 3750, "STS15": 3000, "STS16": 1186}.items():
        assert sum(f["rows"] for f in raw[name]["files"] if ".gs." in f["path"]) == pairs, name
    assert raw["STS-B"]["files"][0]["rows"] == 1379 and raw["SICK-R"]["files"][0]["rows"] == 4927
    xling = {f["path"].split("/")[0] for f in raw["BLI XLING"]["files"] if ".test." in f["path"]}
    assert {"en-fr", "en-it", "en-ru", "en-tr", "it-fr", "ru-fr", "en-de"} <= xling
    assert {f["path"].split(".")[-2] for f in raw["BLI XLING"]["files"] if ".train.freq.5k." in f["path"]} >= xling
    tatoeba = sources["Tatoeba"]
    assert len(tatoeba.groups) == 112 and set(tatoeba.default_groups) <= set(tatoeba.groups)


def test_unknown_keys_in_a_sources_file_fail(tmp_path):
    doc = json.loads(src.SOURCES_FILE.read_text(encoding="utf-8"))
    doc["benchmarks"]["MEN"]["files"][0]["sha265"] = "typo"
    (tmp_path / "s.json").write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="MEN.*sha265"):
        src.load_sources(tmp_path / "s.json")


def test_mirror_rule_keeps_host_and_path():
    served = fetch.mirrored("https://dl.example.org/a/b.txt?x=1", "http://127.0.0.1:9/m/")
    assert served == "http://127.0.0.1:9/m/dl.example.org/a/b.txt?x=1"
    assert fetch.mirrored("http://h/x", None) == "http://h/x"


# ---------------------------------------------------------------------------------------------------- a full download


def test_full_download_is_discovered_as_the_benchmarks(env):
    report = env["run"]()
    assert report.failed == {} and sorted(report.done) == sorted(env["doc"]["benchmarks"])
    out, sources = env["out"], src.load_sources(env["tmp"] / "sources.json")
    for suite in ("sts", "lexical", "crosslingual"):
        expected = {n for b in sources.values() if b.suite == suite for n in b.select(None).expected_names()}
        found = {t.benchmark for t in discover(suite, out)}
        assert found == expected, suite
    assert (out / "sts12" / "STS.input.MSRpar.txt").is_file() and (out / "sts16" / "STS2016.gs.headlines.txt").is_file()
    assert (out / "stsb" / "sts-test.csv").read_text().splitlines()[0].split("\t") == [
        "main-captions", "MSRvid", "2012test", "0001", "5.0", "A girl is styling her hair.",
        "A girl is brushing her hair."]  # fmt: skip
    assert (out / "bli_xling" / "en-fr" / "yacle.train.freq.5k.en-fr.tsv").is_file()
    assert sorted(p.name for p in (out / "tatoeba").iterdir()) == sorted(
        f"tatoeba.{g}-eng.{s}" for g in sources["Tatoeba"].default_groups for s in (g, "eng"))
    assert not (out / ".staging").exists() and not (out / ".downloads").exists()


def test_manifest_records_sources_rows_and_checks(env):
    env["run"](["SimLex-999", "BLI MUSE", "STS-B", "STS15"])
    manifest = json.loads((env["out"] / dl.MANIFEST_NAME).read_text())["benchmarks"]
    assert sorted(manifest) == ["BLI MUSE", "STS-B", "STS15", "SimLex-999"]
    simlex = manifest["SimLex-999"]
    members = ("SimLex-999/README.txt", "SimLex-999/SimLex-999.txt")
    assert simlex["sources"] == [f"https://fh295.github.io/SimLex-999.zip [{m}]" for m in members]
    assert simlex["fetched_from"] == [f"{env['server'].url}fh295.github.io/SimLex-999.zip [{m}]" for m in members]
    assert simlex["mirror_url"] == env["server"].url
    assert simlex["license"].startswith("distributed by the authors") and "Hill" in simlex["citation"]
    assert simlex["rows_expected"] == simlex["rows_found"] == 3 and simlex["checksums"] == "all"
    data = (env["out"] / "simlex999" / "SimLex-999.txt").read_bytes()
    assert {r["path"]: r["sha256"] for r in simlex["files"]}["SimLex-999.txt"] == hashlib.sha256(data).hexdigest()
    muse = manifest["BLI MUSE"]
    assert muse["rows_expected"] == src.UNVERIFIED and muse["rows_found"] == 50 and muse["checksums"] == src.UNVERIFIED
    assert manifest["STS-B"]["sources"][0].startswith("hf://datasets/mteb/stsbenchmark-sts@b0fddb5")
    assert manifest["STS-B"]["rows_found"] == 4
    assert manifest["STS15"]["rows_expected"] == manifest["STS15"]["rows_found"] == 5 * 4  # scored pairs only


def test_complete_benchmarks_are_skipped_unless_forced_or_changed(env):
    env["run"](["MEN", "SimLex-999"])
    env["server"].requests.clear()
    again = env["run"](["MEN", "SimLex-999"])
    assert again.skipped == ["MEN", "SimLex-999"] and env["server"].requests == []
    (env["out"] / "men" / MEN_FILE).write_text("edited\n")
    changed = env["run"](["MEN", "SimLex-999"])
    assert changed.done == ["MEN"] and changed.skipped == ["SimLex-999"]
    assert (env["out"] / "men" / MEN_FILE).read_bytes() == fixture_bytes(MEN_FILE)
    assert env["run"](["MEN"], force=True).done == ["MEN"]


@pytest.mark.parametrize("honour_range", [True, False])
def test_partial_download_resumes_or_restarts(env, honour_range):
    url = fetch.mirrored(first_url(env["doc"], "MEN"), env["server"].url)
    whole = env["server"].files[served_path(first_url(env["doc"], "MEN"))]
    part = fetch.part_path(env["out"], url)
    part.parent.mkdir(parents=True)
    part.write_bytes(whole[:100])
    env["server"].honour_range = honour_range
    assert env["run"](["MEN"]).done == ["MEN"]
    assert env["server"].requests == [(served_path(first_url(env["doc"], "MEN")), "bytes=100-")]
    assert not part.exists()
    assert (env["out"] / "men" / MEN_FILE).read_bytes() == fixture_bytes(MEN_FILE)


def _break(env, kind, name):
    """Make benchmark `name` fail in the way `kind` says; the URL its error must name."""
    doc, server = env["doc"], env["server"]
    spec = doc["benchmarks"][name]["files"][0]
    url = fetch.mirrored(spec["url"], server.url)
    if kind in ("404", "truncate", "garbage"):
        server.broken[served_path(spec["url"])] = kind
    elif kind == "unreachable":
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed once the block ends: nothing listens there
        url = f"http://127.0.0.1:{port}/{name}.csv"
        for b in doc["benchmarks"].values():  # no mirror for this run: point the others at the server directly
            for f in b["files"]:
                if f.get("url") and f is not spec:
                    f["url"] = fetch.mirrored(f["url"], server.url)
            b["archives"] = {fetch.mirrored(u, server.url): v for u, v in b.get("archives", {}).items()}
        spec["url"] = url
    elif kind == "checksum":
        spec["sha256"] = "0" * 64  # Multi-SimLex's real entry has none: a wrong one must fail all the same
    elif kind == "rows":
        spec["rows"] += 1
    elif kind == "archive":
        doc["benchmarks"][name]["archives"][spec["url"]]["sha1"] = "0" * 40  # the whole zip's checksum
    return url


@pytest.mark.parametrize("kind", ["404", "unreachable", "truncate", "checksum", "rows", "garbage", "archive"])
def test_a_failure_is_one_line_naming_benchmark_and_url_and_the_others_complete(env, kind):
    # SICK-R: a zip with no known archive checksum; SimLex-999: a zip with one
    name = {"garbage": "SICK-R", "archive": "SimLex-999"}.get(kind, "Multi-SimLex")
    url = _break(env, kind, name)
    report = env["run"]([name, "MEN", "STS12"], mirror_url=None if kind == "unreachable" else env["server"].url)
    assert sorted(report.done) == ["MEN", "STS12"] and list(report.failed) == [name]
    message = report.failed[name]
    assert "\n" not in message and message.startswith(f"{name}: {url}")
    reason = {"404": "HTTP 404", "unreachable": "unreachable", "truncate": "truncated", "checksum": "sha256 mismatch",
              "rows": "rows, expected", "garbage": "not a zip or tar archive",
              "archive": "sha1 mismatch for the archive"}[kind]  # fmt: skip
    assert reason in message
    folder = env["out"] / env["doc"]["benchmarks"][name]["folder"]
    assert not folder.exists()
    assert name not in json.loads((env["out"] / dl.MANIFEST_NAME).read_text())["benchmarks"]
    leftovers = [p.name for p in (env["out"] / ".downloads").iterdir()] if (env["out"] / ".downloads").exists() else []
    assert all(p.endswith(".part") for p in leftovers)  # a partial download never looks complete
    assert bool(leftovers) == (kind == "truncate")  # and only a truncated one is kept, to resume
    with pytest.raises(DataError, match=re.escape(name)):
        report.raise_for_failures()


def test_a_failed_refetch_keeps_the_complete_folder(env):
    env["run"](["MEN"])
    env["server"].broken[served_path(first_url(env["doc"], "MEN"))] = "404"
    assert list(env["run"](["MEN"], force=True).failed) == ["MEN"]
    assert (env["out"] / "men" / MEN_FILE).read_bytes() == fixture_bytes(MEN_FILE)
    assert "MEN" in json.loads((env["out"] / dl.MANIFEST_NAME).read_text())["benchmarks"]


def test_tasks_and_languages_select(env):
    report = env["run"](["BLI", "tatoeba"], groups={"Tatoeba": ["fra"]})
    assert report.done == ["BLI MUSE", "BLI XLING", "Tatoeba"]
    assert sorted(p.name for p in (env["out"] / "tatoeba").iterdir()) == ["tatoeba.fra-eng.eng", "tatoeba.fra-eng.fra"]
    env["run"](["Tatoeba"], groups={"Tatoeba": ["xho"]})  # more languages keep those already there
    found = {t.benchmark for t in discover("crosslingual", env["out"], ["Tatoeba"])}
    assert found == {"Tatoeba fra-eng", "Tatoeba xho-eng"}
    assert sorted(p.name for p in env["out"].iterdir()) == ["MANIFEST.json", "bli_muse", "bli_xling", "tatoeba"]
    with pytest.raises(ConfigError, match="qqq"):
        env["run"](["Tatoeba"], groups={"Tatoeba": ["qqq"]})
    with pytest.raises(ConfigError, match="--tasks STS99"):
        env["run"](["STS99"])


def _cli(env, *args, extra_env=None):
    sources = env["tmp"] / "sources.json"
    sources.write_text(json.dumps(env["doc"]), encoding="utf-8")
    cmd = [sys.executable, str(REPO / "eval" / "download_benchmarks.py"), "--output_dir", str(env["out"]),
           "--sources", str(sources), "--no_progress", *args]  # fmt: skip
    run_env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **(extra_env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=run_env, cwd=env["tmp"])


@pytest.mark.slow
def test_cli_exit_codes(env):
    ok = _cli(env, "--tasks", "SimLex-999", "MEN", "--mirror_url", env["server"].url)
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in env["out"].iterdir()) == ["MANIFEST.json", "men", "simlex999"]
    env["server"].broken[served_path(first_url(env["doc"], "WordSim-353"))] = "404"
    bad = _cli(env, "--tasks", "WordSim-353", "MEN", "--mirror_url", env["server"].url, "--force")
    assert bad.returncode == 2
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 benchmark(s) failed: WordSim-353: ") and "HTTP 404" in last
    assert "Traceback" not in bad.stderr


def test_hub_source_offline_without_a_local_copy_fails_that_benchmark(env):
    home = env["tmp"] / "empty_hf_home"
    res = _cli(env, "--tasks", "STS-B", "MEN", "--mirror_url", env["server"].url,
               extra_env={"HF_HOME": str(home), "HF_DATASETS_OFFLINE": "1"})  # fmt: skip
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert "STS-B: hf://datasets/mteb/stsbenchmark-sts@b0fddb56ed78048fa8b90373c8a3cfc37b684831 (split test):" in last
    assert (env["out"] / "men").is_dir() and not (env["out"] / "stsb").exists()
