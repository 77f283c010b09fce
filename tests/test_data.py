import json
from pathlib import Path

import pytest
import torch

from mirror.data import TextDataset, clean_strings, load_corpus
from mirror.errors import DataError

from conftest import SENTENCES


def test_txt_strip_blank_dedup_counts(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("  a cat \n\nb dog\na cat\n   \nc bird\n", encoding="utf-8")
    texts, stats = load_corpus(f)
    assert texts == ["a cat", "b dog", "c bird"]
    assert (stats.read, stats.blank, stats.duplicates, stats.kept) == (6, 2, 1, 3)
    texts, stats = load_corpus(f, deduplicate=False)
    assert texts == ["a cat", "b dog", "a cat", "c bird"] and stats.duplicates == 0


def test_shipped_english_corpus_has_the_known_duplicates():
    texts, stats = load_corpus(SENTENCES)
    assert stats.read == 10_000 and stats.blank == 0
    assert stats.kept == len(set(texts)) == 10_000 - stats.duplicates
    assert stats.duplicates > 700  # the original file repeats ~7% of its lines (false negatives)


def test_csv_tsv_jsonl_json_columns(tmp_path):
    (tmp_path / "c.csv").write_text('id,sentence\n1,"hello, world"\n2,second one\n', encoding="utf-8")
    (tmp_path / "c.tsv").write_text('id\tsentence\n1\t"quoted" text\n2\tsecond one\n', encoding="utf-8")
    (tmp_path / "c.jsonl").write_text('{"sentence": "hello"}\n\n{"sentence": "there"}\n', encoding="utf-8")
    (tmp_path / "c.json").write_text(json.dumps([{"sentence": "x y"}, "z w"]), encoding="utf-8")
    assert load_corpus(tmp_path / "c.csv", text_column="sentence")[0] == ["hello, world", "second one"]
    assert load_corpus(tmp_path / "c.tsv", text_column="sentence")[0] == ['"quoted" text', "second one"]
    assert load_corpus(tmp_path / "c.jsonl", text_column="sentence")[0] == ["hello", "there"]
    assert load_corpus(tmp_path / "c.json", text_column="sentence")[0] == ["x y", "z w"]
    with pytest.raises(DataError, match=r"c\.csv, line 1: no column 'text'"):
        load_corpus(tmp_path / "c.csv")
    (tmp_path / "bad.csv").write_text("id,sentence\n1,a\n2,b,extra\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.csv, line 3: expected 2 columns"):
        load_corpus(tmp_path / "bad.csv", text_column="sentence")
    (tmp_path / "bad.jsonl").write_text('{"sentence": "a"}\n{"sentence": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2: invalid JSON"):
        load_corpus(tmp_path / "bad.jsonl", text_column="sentence")


def test_seeded_sample_keeps_order():
    texts = [f"s{i}" for i in range(100)]
    a, stats = clean_strings(texts, "x", max_train_samples=10, seed=1)
    b, _ = clean_strings(texts, "x", max_train_samples=10, seed=1)
    c, _ = clean_strings(texts, "x", max_train_samples=10, seed=2)
    assert a == b != c and len(a) == 10 and stats.sampled_out == 90
    assert a == sorted(a, key=lambda s: int(s[1:]))


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_corpus(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="is a directory"):
        load_corpus(tmp_path)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_corpus(tmp_path / "empty.txt")
    (tmp_path / "blank.txt").write_text("\n  \n\t\n")
    with pytest.raises(DataError, match="every line is blank"):
        load_corpus(tmp_path / "blank.txt")
    (tmp_path / "latin1.txt").write_bytes("first line\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt, line 2: not valid UTF-8 \(byte offset 14"):
        load_corpus(tmp_path / "latin1.txt")
    with pytest.raises(DataError, match="no training data"):
        load_corpus()


def test_hub_dataset_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="HF_HUB_OFFLINE"):
        load_corpus(dataset_name="sentence-transformers/stsb")


def test_text_dataset_items_carry_their_index():
    ds = TextDataset(["a", "b"])
    assert len(ds) == 2 and ds[1] == {"idx": 1, "text": "b"}


# ---- every common corpus form: compressed text/CSV/JSONL, Parquet, folders, binary files under a text name ----

PLAIN = {  # file suffix -> content (the text column is "sentence" where there are columns)
    ".txt": "a cat\nb dog\n\na cat\nc bird\n",
    ".csv": 'id,sentence\n1,a cat\n2,"b, dog"\n3,a cat\n4,c bird\n',
    ".jsonl": '{"sentence": "a cat"}\n{"sentence": "b, dog"}\n\n{"sentence": "a cat"}\n{"sentence": "c bird"}\n',
}
EXPECTED = {".txt": ["a cat", "b dog", "c bird"], ".csv": ["a cat", "b, dog", "c bird"], ".jsonl": ["a cat", "b, dog", "c bird"]}


def compress(raw: bytes, suffix: str) -> bytes:
    import bz2
    import gzip
    import lzma

    import pyarrow as pa

    if suffix == ".zst":
        return pa.compress(raw, codec="zstd", asbytes=True)
    return {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix](raw)


def write_parquet(path, columns: dict):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize("compression", [".gz", ".bz2", ".xz", ".zst"])
@pytest.mark.parametrize("fmt", [".txt", ".csv", ".jsonl"])
def test_compressed_text_csv_jsonl_read_like_the_plain_file(tmp_path, fmt, compression):
    content = PLAIN[fmt]
    column = "text" if fmt == ".txt" else "sentence"
    (tmp_path / f"c{fmt}").write_text(content, encoding="utf-8")
    packed = tmp_path / f"c{fmt}{compression}"
    packed.write_bytes(compress(content.encode("utf-8"), compression))
    assert packed.read_bytes() != content.encode("utf-8")
    texts, stats = load_corpus(packed, text_column=column)
    assert texts == EXPECTED[fmt] == load_corpus(tmp_path / f"c{fmt}", text_column=column)[0]
    assert stats.duplicates == 1 and stats.source == str(packed)


def test_parquet_column_nulls_are_blanks_and_compressed_parquet(tmp_path):
    path = write_parquet(tmp_path / "c.parquet", {"id": [1, 2, 3, 4], "sentence": ["a cat", None, " b dog ", "a cat"]})
    texts, stats = load_corpus(path, text_column="sentence")
    assert texts == ["a cat", "b dog"] and (stats.read, stats.blank, stats.duplicates) == (4, 1, 1)
    packed = tmp_path / "c.parquet.gz"
    packed.write_bytes(compress(path.read_bytes(), ".gz"))
    assert load_corpus(packed, text_column="sentence")[0] == ["a cat", "b dog"]
    with pytest.raises(DataError, match=r"c\.parquet: no column 'text' in the columns \['id', 'sentence'\]; set --text_column"):
        load_corpus(path)
    with pytest.raises(DataError, match=r"c\.parquet: column 'id' holds int64, expected strings"):
        load_corpus(path, text_column="id")
    (tmp_path / "fake.parquet").write_text("a cat\nb dog\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"fake\.parquet: not a readable Parquet file"):
        load_corpus(tmp_path / "fake.parquet")


def test_a_malformed_line_in_a_compressed_file_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(compress(b"id,sentence\n1,a\n2,b,extra\n", ".gz"))
    with pytest.raises(DataError, match=r"bad\.csv\.gz, line 3: expected 2 columns"):
        load_corpus(bad, text_column="sentence")
    bad = tmp_path / "bad.jsonl.xz"
    bad.write_bytes(compress(b'{"sentence": "a"}\n{"sentence": \n', ".xz"))
    with pytest.raises(DataError, match=r"bad\.jsonl\.xz, line 2: invalid JSON"):
        load_corpus(bad, text_column="sentence")
    latin = tmp_path / "latin1.txt.bz2"
    latin.write_bytes(compress("first line\ncaf\xe9 au lait\n".encode("latin-1"), ".bz2"))
    with pytest.raises(DataError, match=r"latin1\.txt\.bz2, line 2: not valid UTF-8 \(byte offset 14"):
        load_corpus(latin)


def test_an_unknown_suffix_lists_the_supported_ones(tmp_path):
    (tmp_path / "c.docx").write_bytes(b"PK\x03\x04 zipped xml")
    with pytest.raises(DataError) as err:
        load_corpus(tmp_path / "c.docx")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'c.docx'}: unknown corpus suffix '.docx'") and "\n" not in message
    for suffix in (".txt", ".csv", ".tsv", ".jsonl", ".json", ".parquet", ".gz", ".bz2", ".xz", ".zst"):
        assert suffix in message
    (tmp_path / "c.tar.gz").write_bytes(compress(b"x", ".gz"))
    with pytest.raises(DataError, match=r"unknown corpus suffix '\.tar'"):
        load_corpus(tmp_path / "c.tar.gz")


def test_a_binary_file_under_a_text_suffix_says_what_it_looks_like(tmp_path):
    parquet = write_parquet(tmp_path / "p.parquet", {"text": ["a cat", "b dog"]})
    (tmp_path / "p.txt").write_bytes(parquet.read_bytes())
    with pytest.raises(DataError, match=r"p\.txt: looks like a Parquet file, not text; if it is a corpus, name it p\.parquet$"):
        load_corpus(tmp_path / "p.txt")
    for suffix, what in [(".gz", "gzip"), (".bz2", "bzip2"), (".xz", "xz"), (".zst", "zstd")]:
        (tmp_path / "z.csv").write_bytes(compress(b"text\na cat\n", suffix))
        with pytest.raises(DataError, match=rf"z\.csv: looks like {what}-compressed data, not text; if it is a corpus, name it z\.csv\{suffix}$"):
            load_corpus(tmp_path / "z.csv")
    (tmp_path / "nul.txt").write_bytes(b"\x00\x01\x02\x80\x81 binary")
    with pytest.raises(DataError, match=r"nul\.txt: looks like a binary file, not text; supported corpora: \.txt"):
        load_corpus(tmp_path / "nul.txt")
    (tmp_path / "u16.txt").write_bytes("a cat\nb dog\n".encode("utf-16"))
    with pytest.raises(DataError, match=r"u16\.txt: looks like UTF-16 text; convert it to UTF-8"):
        load_corpus(tmp_path / "u16.txt")
    (tmp_path / "plain.txt.gz").write_text("a cat\nb dog\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"plain\.txt\.gz: not valid gzip data \(.*\); if it is not compressed, drop the \.gz suffix"):
        load_corpus(tmp_path / "plain.txt.gz")
    (tmp_path / "xz.txt.gz").write_bytes(compress(b"a cat\n", ".xz"))
    with pytest.raises(DataError, match=r"xz\.txt\.gz: not valid gzip data \(.*\); it looks like xz-compressed data"):
        load_corpus(tmp_path / "xz.txt.gz")


def test_zst_without_a_zstd_codec_says_what_to_install(tmp_path, monkeypatch):
    import sys
    import types

    path = tmp_path / "c.txt.zst"
    path.write_bytes(compress(b"a cat\n", ".zst"))
    no_zstd = types.SimpleNamespace(Codec=types.SimpleNamespace(is_available=lambda name: False))
    monkeypatch.setitem(sys.modules, "pyarrow", no_zstd)
    with pytest.raises(DataError, match=r"c\.txt\.zst: this pyarrow was built without zstd; install the PyPI wheel"):
        load_corpus(path)
    monkeypatch.undo()
    assert load_corpus(path)[0] == ["a cat"]


def test_a_folder_as_train_file_points_to_dataset_name(tmp_path):
    with pytest.raises(DataError, match=r"is a directory, expected a file; give a folder .* as --dataset_name"):
        load_corpus(tmp_path)


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch):
    """`datasets` writes what load_dataset builds into its cache: keep it in the test's folder."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    return datasets


def test_dataset_name_reads_a_parquet_folder_and_save_to_disk_folders(tmp_path, datasets_cache):
    datasets = datasets_cache
    shards = tmp_path / "shards"
    shards.mkdir()
    write_parquet(shards / "part-0.parquet", {"text": ["a cat", "b dog"]})
    write_parquet(shards / "part-1.parquet", {"text": ["c bird", "a cat"]})
    texts, stats = load_corpus(dataset_name=str(shards))
    assert texts == ["a cat", "b dog", "c bird"] and stats.duplicates == 1
    one = datasets.Dataset.from_dict({"sentence": ["x y", "z w", "x y"]})
    one.save_to_disk(str(tmp_path / "one"))
    assert load_corpus(dataset_name=str(tmp_path / "one"), text_column="sentence")[0] == ["x y", "z w"]
    splits = datasets.DatasetDict({"train": one, "test": datasets.Dataset.from_dict({"sentence": ["t u"]})})
    splits.save_to_disk(str(tmp_path / "splits"))
    assert load_corpus(dataset_name=str(tmp_path / "splits"), dataset_split="test", text_column="sentence")[0] == ["t u"]
    with pytest.raises(DataError, match=r"no split 'dev' in \['train', 'test'\]; set --dataset_split"):
        load_corpus(dataset_name=str(tmp_path / "splits"), dataset_split="dev", text_column="sentence")
    with pytest.raises(DataError, match=r"no column 'text' in \['sentence'\]; set --text_column"):
        load_corpus(dataset_name=str(tmp_path / "one"))
    assert not list((tmp_path / "one").glob("cache-*"))  # load_from_disk reads the folder in place


@pytest.mark.slow
def test_a_recipe_run_on_a_parquet_corpus_matches_the_same_strings_as_txt(tiny_bert, tmp_path):
    from safetensors.torch import load_file

    from mirror.recipe import parse_args, train

    lines = list(dict.fromkeys(SENTENCES.read_text(encoding="utf-8").splitlines()))[:32]
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_parquet(tmp_path / "c.parquet", {"id": list(range(32)), "sentence": lines})

    def run(name, *flags):
        argv = ["--model_name_or_path", tiny_bert, "--output_dir", tmp_path / name, "--per_device_train_batch_size", 8,
                "--max_steps", 2, "--save_strategy", "no", "--seed", 5, "--disable_tqdm", "true", *flags]
        result = train(*parse_args([str(a) for a in argv], "sentence"))
        final = Path(result["encoder_dir"])
        return load_file(final / "model.safetensors"), json.loads((final / "mirror_config.json").read_text())

    weights, cfg = run("pq", "--train_file", tmp_path / "c.parquet", "--text_column", "sentence")
    assert cfg["corpus"]["kept"] == 32 and cfg["corpus"]["source"] == str(tmp_path / "c.parquet")
    assert cfg["data"]["text_column"] == "sentence"
    txt_weights, _ = run("txt", "--train_file", tmp_path / "c.txt")
    assert weights.keys() == txt_weights.keys() and all(torch.equal(weights[k], txt_weights[k]) for k in weights)
