import json

import pytest

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
