"""Positive pairs: `a||b` lines (--pairwise), two columns of a table (--pair_columns, names or headerless
positions), cleaning and counts, and errors that name the file, the line or the column."""

import json
import logging

import pytest

from mirror.config import DataArguments
from mirror.errors import ConfigError, DataError
from mirror.pairs import load_pairs


def test_pairwise_lines_strip_blank_and_duplicate_pairs_counted(tmp_path, caplog):
    f = tmp_path / "pairs.txt"
    f.write_text(" a cat || eine Katze \n\ndog||Hund\na cat||eine Katze\ndog||der Hund\nHund||dog\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="mirror"):
        pairs, stats = load_pairs(f, pairwise=True)
    assert pairs == [("a cat", "eine Katze"), ("dog", "Hund"), ("dog", "der Hund"), ("Hund", "dog")]
    assert (stats.read, stats.blank, stats.duplicates, stats.kept) == (6, 1, 1, 4)
    assert stats.sharing_a_string == 3  # "dog" on three pairs ("Hund" on two of them)
    assert "1 duplicate" in caplog.text and "kept 4" in caplog.text and "3 share a string" in caplog.text
    kept_all, stats = load_pairs(f, pairwise=True, deduplicate=False)
    assert len(kept_all) == 5 and stats.duplicates == 0


@pytest.mark.parametrize(
    "line, message",
    [
        ("a cat eine Katze", r"line 2: expected one '\|\|' \(--pairwise\), found no"),
        ("a||b||c", r"line 2: expected one '\|\|' \(--pairwise\), found 2"),
        ("  ||eine Katze", r"line 2: the left side of '\|\|' is empty"),
        ("a cat||   ", r"line 2: the right side of '\|\|' is empty"),
    ],
)
def test_pairwise_errors_name_the_file_and_line(tmp_path, line, message):
    f = tmp_path / "bad.txt"
    f.write_text(f"dog||Hund\n{line}\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.txt, " + message):
        load_pairs(f, pairwise=True)


def test_without_pairwise_a_line_is_one_string(tmp_path):
    from mirror.data import load_corpus

    f = tmp_path / "pairs.txt"
    f.write_text("dog||Hund\n", encoding="utf-8")
    assert load_corpus(f)[0] == ["dog||Hund"]


def test_named_columns_of_csv_tsv_jsonl(tmp_path):
    (tmp_path / "p.csv").write_text('id,anchor,positive\n1,"a, b",c\n2,d,e\n3,d,e\n', encoding="utf-8")
    (tmp_path / "p.tsv").write_text("anchor\tpositive\na\tb\n\t\nc\td\n", encoding="utf-8")
    rows = [{"anchor": "x", "positive": "y"}, {"anchor": "z", "positive": "w"}]
    (tmp_path / "p.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n", encoding="utf-8")
    pairs, stats = load_pairs(tmp_path / "p.csv", pair_columns=["anchor", "positive"])
    assert pairs == [("a, b", "c"), ("d", "e")] and stats.duplicates == 1
    pairs, stats = load_pairs(tmp_path / "p.tsv", pair_columns=["anchor", "positive"])
    assert pairs == [("a", "b"), ("c", "d")] and stats.blank == 1
    assert load_pairs(tmp_path / "p.jsonl", pair_columns=["positive", "anchor"])[0] == [("y", "x"), ("w", "z")]


@pytest.mark.parametrize("name, text", [("p.csv", "anchor,other\na,b\n"), ("p.jsonl", '{"anchor": "a", "other": "b"}\n')])
def test_a_missing_pair_column_is_named(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match="no (column|field) 'positive'.*--pair_columns") as err:
        load_pairs(tmp_path / name, pair_columns=["anchor", "positive"])
    assert "--text_column" not in str(err.value)


def test_headerless_tsv_by_position_like_an_xling_dictionary(tmp_path):
    f = tmp_path / "yacle.train.freq.5k.en-de.tsv"
    f.write_text("house\tHaus\nhome\tHaus\nhotel\tHotel\n\nhouse\tHaus\n", encoding="utf-8")
    pairs, stats = load_pairs(f, pair_columns=["0", "1"])
    assert pairs == [("house", "Haus"), ("home", "Haus"), ("hotel", "Hotel")]
    assert (stats.read, stats.blank, stats.duplicates, stats.sharing_a_string) == (5, 1, 1, 2)
    assert load_pairs(f, pair_columns=["1", "0"])[0][0] == ("Haus", "house")
    with pytest.raises(DataError, match=r"yacle.*\.tsv, line 1: 2 column\(s\), no column 2"):
        load_pairs(f, pair_columns=["0", "2"])


def test_the_wrong_flag_for_the_file_says_which_to_use(tmp_path):
    (tmp_path / "p.txt").write_text("a||b\n", encoding="utf-8")
    (tmp_path / "p.csv").write_text("a,b\nx,y\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"p\.txt: a text file has no columns; .* use --pairwise"):
        load_pairs(tmp_path / "p.txt", pair_columns=["a", "b"])
    with pytest.raises(DataError, match=r"p\.csv: --pairwise reads 'a\|\|b' lines of a text file"):
        load_pairs(tmp_path / "p.csv", pairwise=True)
    (tmp_path / "blank.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match="every pair has a blank side"):
        load_pairs(tmp_path / "blank.txt", pairwise=True)


def test_seeded_sample_of_pairs_keeps_order(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("".join(f"w{i}||v{i}\n" for i in range(100)), encoding="utf-8")
    a, stats = load_pairs(f, pairwise=True, max_train_samples=10, seed=1)
    assert a == load_pairs(f, pairwise=True, max_train_samples=10, seed=1)[0]
    assert a != load_pairs(f, pairwise=True, max_train_samples=10, seed=2)[0]
    assert len(a) == 10 and stats.sampled_out == 90 and a == sorted(a, key=lambda p: int(p[0][1:]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pair_columns": ["a"]}, "--pair_columns takes two different columns"),
        ({"pair_columns": ["a", "a"]}, "--pair_columns takes two different columns"),
        ({"pair_columns": ["a", "b"], "pairwise": True}, "exclude each other"),
    ],
)
def test_impossible_pair_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DataArguments(**kwargs)
