"""Word-similarity loaders, scorer and discovery: every file style, hand-computed scores, the real data's counts."""

import json
import runpy
import shutil
from pathlib import Path

import pytest
from conftest import real_benchmarks
from evalkit import FakeEncoder, pair_vectors, write

from mirror.errors import DataError
from mirror.evaluation import lexical, load_multisimlex, load_word_pairs, score_word_similarity
from mirror.evaluation.suite import discover, evaluate_suite, load_tasks

RELEASE = Path(__file__).parent / "fixtures" / "releases" / "multisimlex"  # 7 rows of the official sheets, every column
RELEASE_LANGUAGES = ["ARA", "CMN", "CYM", "ENG", "EST", "FIN", "FRA", "HEB", "POL", "RUS", "SPA", "SWA", "YUE"]
RELEASE_NOTES = [
    "scores.csv: column 'scores' is not a language, skipped: its name is not a 2-3 letter language code",
    "scores.csv: column 'translation' is not a language, skipped: its name is not a 2-3 letter language code",
]

PAIRS = [("old", "new", "1.58"), ("smart", "intelligent", "9.2"), ("hard", "difficult", "8.77")]


@pytest.mark.parametrize(
    "name, text",
    [
        ("SimLex-999.txt", "word1\tword2\tPOS\tSimLex999\tconc(w1)\r\n" + "".join(f"{a}\t{b}\tA\t{s}\t2.5\r\n" for a, b, s in PAIRS)),
        ("combined.csv", "Word 1,Word 2,Human (mean)\n" + "".join(f"{a},{b},{s}\n" for a, b, s in PAIRS)),
        ("combined.tab", "Word 1\tWord 2\tHuman (mean)\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in PAIRS)),
        ("MEN_dataset_natural_form_full", "".join(f"{a} {b}  {s}\n" for a, b, s in PAIRS)),
        ("EN-WS-353-ALL.txt", "".join(f"{a}\t{b}\t{s}\n" for a, b, s in PAIRS) + "\n"),
        ("fra.tsv", "id\tword1\tword2\tpos\tscore\n" + "".join(f"{i}\t{a}\t{b}\tA\t{s}\n" for i, (a, b, s) in enumerate(PAIRS))),
    ],
)
def test_word_pair_file_styles_read_the_same_pairs(tmp_path, name, text):
    data = load_word_pairs(write(tmp_path / name, text))
    assert data.content() == ([a for a, _, _ in PAIRS], [b for _, b, _ in PAIRS], [float(s) for _, _, s in PAIRS])


def test_men_lemma_form_drops_part_of_speech_suffixes(tmp_path):
    data = load_word_pairs(write(tmp_path / "MEN_dataset_lemma_form_full", "sun-n sunlight-n 50.0\nbake-v bread-n 40\n"), strip_pos=True)
    assert data.words1 == ["sun", "bake"] and data.words2 == ["sunlight", "bread"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty file"),
        ("a b 1\nc d 2\ne f\n", "line 3: expected 3 space-separated columns, got 2"),
        ("a\tb\t1\nc\td\tlots\n", "line 2: score 'lots' is not a number"),
        ("x\ty\tz\tw\nc\td\t1\t2\n", r"line 1: cannot tell which header column holds the score"),
        ("a b 1 extra\n", "line 1: expected 3 columns"),
    ],
)
def test_word_pair_errors_name_file_and_line(tmp_path, text, message):
    path = write(tmp_path / "EN-MEN-TR-3k.txt", text)
    with pytest.raises(DataError, match=f"EN-MEN-TR-3k.txt.*{message}"):
        load_word_pairs(path)


def test_score_word_similarity_by_hand():
    enc = FakeEncoder(pair_vectors("w", [0.9, 0.2, 0.4, 0.1]))
    data = lexical.WordPairs(["wL0", "wL1", "wL2", "wL3"], ["wR0", "wR1", "wR2", "wR3"], [4.0, 3.0, 1.0, 2.0])
    # cosine ranks [4, 2, 3, 1] vs gold ranks [4, 3, 1, 2]: sum d^2 = 0 + 1 + 4 + 1 = 6 -> 1 - 36/60
    assert score_word_similarity(enc, data) == {"spearman": pytest.approx(40.0), "pairs": 4}
    assert len(enc.calls) == 1 and sorted(enc.calls[0]) == sorted(set(enc.calls[0]))


def test_multisimlex_sheets_one_benchmark_per_language(tmp_path):
    folder = tmp_path / "Multi-SimLex"
    write(folder / "scores.csv", "ID,ENG 1,ENG 2,PoS,ENG,FRA,POL,scores,translation\r\n1,arm,muscle,nouns,0.69,2.6,,1.1,\r\n"
          "2,roof,ceiling,nouns,3.7,4.4,2.2,3.6,\r\n3,\"car, old\",cab,nouns,2.8,4.0,3.5,3.2,\r\n4,day,dawn,nouns,2.3,4.1,2.0,2.1,\r\n")  # fmt: skip
    write(folder / "translation.csv", "ID,ENG 1,ENG 2,PoS,FRA 1,FRA 2,POL 1,POL 2\r\n1,arm,muscle,nouns,bras,muscle,ramię,mięsień\r\n"
          "2,roof,ceiling,nouns,toit,plafond,dach,sufit\r\n3,\"car, old\",cab,nouns,voiture,taxi,auto,taksówka\r\n4,day,dawn,nouns,jour,aube,dzień,świt\r\n")  # fmt: skip
    write(folder / "fra.tsv", "id\tword1\tword2\tpos\tscore\n1\tbras\tmuscle\tnouns\t2.6\n2\ttoit\tplafond\tnouns\t4.4\n"
          "3\tvoiture\ttaxi\tnouns\t4.0\n4\tjour\taube\tnouns\t4.1\n")  # fmt: skip
    sheets = load_multisimlex(folder / "scores.csv")
    assert list(sheets) == ["ENG", "FRA", "POL"]  # not 'scores'/'translation': they have no word columns
    assert sheets["ENG"].words1 == ["arm", "roof", "car, old", "day"] and sheets["ENG"].scores[0] == 0.69
    assert sheets["FRA"].words2 == ["muscle", "plafond", "taxi", "aube"]
    assert len(sheets["POL"]) == 3 and sheets["POL"].unscored == 1  # an empty score cell: unscored, counted
    tasks = discover("lexical", tmp_path)
    loaded, notes = load_tasks(tasks, tmp_path)
    assert [t.name for t, _ in loaded] == ["Multi-SimLex ENG", "Multi-SimLex FRA", "Multi-SimLex POL"]
    assert notes == ["Multi-SimLex/fra.tsv holds the same data as Multi-SimLex FRA: scored once"]


def test_multisimlex_sheet_errors(tmp_path):
    write(tmp_path / "scores.csv", "ID,ENG 1,ENG 2,ENG\n1,a,b,1.0\n2,c,d,x\n")
    with pytest.raises(DataError, match=r"scores.csv, line 3: ENG score 'x' is not a number"):
        load_multisimlex(tmp_path / "scores.csv")
    write(tmp_path / "scores.csv", "ID,ENG 1,ENG 2,ENG\n1,a,b,1.0\n2,c,d\n")
    with pytest.raises(DataError, match=r"scores.csv, line 3: expected 4 columns like the header, got 3"):
        load_multisimlex(tmp_path / "scores.csv")


def test_discovery_recognises_the_usual_distribution_names(tmp_path):
    row = "a\tb\t1\nc\td\t2\n"
    for rel in [
        "simlex/SimLex-999.txt", "simlex/README.txt", "wordsim353/combined.tab", "wordsim353/set1.csv",
        "wordsim353_sim_rel/wordsim_similarity_goldstandard.txt", "wordsim353_sim_rel/wordsim_relatedness_goldstandard.txt",
        "MEN/MEN_dataset_natural_form_full", "MEN/MEN_dataset_lemma_form.test", "multisimlex/cmn.tsv",
        "words/en_words_top_10k.txt", "eval-word-vectors/EN-MEN-TR-3k.txt",
    ]:  # fmt: skip
        write(tmp_path / rel, row)
    write(tmp_path / "elsewhere" / "combined.csv", "Word 1,Word 2,Human (mean)\nlove,sex,6.77\ntiger,cat,7.35\n")
    write(tmp_path / "elsewhere" / "combined.tab", "Word 1\tWord 2\tHuman (mean)\nlove\tsex\t6.77\ntiger\tcat\t7.35\n")
    tasks = discover("lexical", tmp_path)
    assert [t.name for t in tasks] == [
        "SimLex-999", "Multi-SimLex CMN", "WordSim-353 elsewhere/combined.csv", "WordSim-353 elsewhere/combined.tab",
        "WordSim-353 wordsim353", "WordSim-353 rel", "WordSim-353 sim", "MEN MEN", "MEN eval-word-vectors",
    ]  # fmt: skip
    loaded, notes = load_tasks(tasks, tmp_path)  # copies holding the same pairs are scored once
    assert notes == [
        "elsewhere/combined.tab holds the same data as WordSim-353 elsewhere: scored once",
        "eval-word-vectors/EN-MEN-TR-3k.txt holds the same data as MEN: scored once",
    ]
    assert "WordSim-353 elsewhere" in [t.name for t, _ in loaded]


def test_release_sheets_discovery_finds_exactly_the_languages():
    tasks = discover("lexical", RELEASE)
    assert [t.name for t in tasks] == [f"Multi-SimLex {lang}" for lang in RELEASE_LANGUAGES]
    assert all(list(t.notes) == RELEASE_NOTES for t in tasks)


def test_release_sheets_scores_and_words_per_language():
    sheets = load_multisimlex(RELEASE / "scores.csv")
    assert list(sheets) == RELEASE_LANGUAGES  # not 'scores' (the mean, with English words) nor 'translation'
    eng = sheets["ENG"]
    assert eng.words1 == ["arm", "hand", "automobile", "infinity", "delightful", "stop", "nicely"]
    assert eng.scores == [
        0.6923076923076923, 1.0, 5.6923076923076925, 0.6153846153846154, 2.6923076923076925, 0.0, 4.846153846153846,
    ]  # fmt: skip
    fin = sheets["FIN"]  # words from translation.csv, trailing space of 'käsi ' stripped
    assert fin.words1[:2] == ["käsivarsi", "käsi"] and fin.words2[:2] == ["lihas", "jalkaterä"]
    assert fin.scores == [1.2, 1.4, 6.0, 0.1, 1.0, 0.2, 2.3]
    assert sheets["CMN"].words2 == ["肌肉", "脚", "汽车", "零", "快乐", "驾驶", "仁慈地"]
    assert sheets["YUE"].scores[:2] == [0.5454545454545454, 1.8181818181818181]
    est = sheets["EST"]  # row 953 has no 'EST 2' word: unscored, its score 0.9 dropped
    assert (len(est), est.unscored) == (6, 1) and est.scores == [1.4, 1.5, 5.0, 3.0, 0.6, 3.6]
    assert "lõpmatus" not in est.words1 and est.words1[3] == "rõõmustav"


def test_release_non_language_columns_are_noted_in_the_results_metadata(tiny_bert):
    table, meta = evaluate_suite("lexical", [str(tiny_bert)], RELEASE, log=lambda msg: None)
    assert meta["notes"] == RELEASE_NOTES  # once each, though every language's task carries them
    assert list(table.columns) == [f"Multi-SimLex {lang}" for lang in RELEASE_LANGUAGES] + ["avg"]
    assert [t["pairs"] for t in meta["tasks"]] == [7, 7, 7, 7, 6, 7, 7, 7, 7, 7, 7, 7, 7]


@pytest.mark.parametrize(
    "cells, why",
    [
        ({"AVG 1": ["1.5", "2", "x"], "AVG 2": ["0.1", "3", "4"]}, "its word columns 'AVG 1'/'AVG 2' hold mostly numbers, not words"),
        ({"AVG 1": ["", ""], "AVG 2": ["", ""]}, "its word columns 'AVG 1'/'AVG 2' are empty"),
        ({"AVG 1": ["a", "1"], "AVG 2": ["b", "2"]}, None),  # half numbers: still words
    ],
)  # fmt: skip
def test_a_code_shaped_column_is_a_language_only_if_its_word_columns_hold_words(cells, why):
    header = ["ID", "ENG 1", "ENG 2", "PoS", "ENG", "AVG", "mean"]
    words = {"ENG 1": ["arm", "roof"], "ENG 2": ["muscle", "ceiling"], "mean 1": ["arm", "roof"], "mean 2": ["a", "b"]}
    words |= cells
    languages, skipped = lexical.language_columns(header, words)
    assert languages == (["ENG"] if why else ["ENG", "AVG"])
    assert skipped == {**({"AVG": why} if why else {}), "mean": "its name is not a 2-3 letter language code"}


def test_sheets_with_no_language_name_the_skipped_columns(tmp_path):
    write(tmp_path / "multisimlex" / "scores.csv", "ID,scores 1,scores 2,scores\n1,arm,muscle,1.1\n2,roof,ceiling,3.6\n")
    with pytest.raises(DataError, match=r"no language .*; 'scores' skipped: its name is not a 2-3 letter language code"):
        load_tasks(discover("lexical", tmp_path), tmp_path)


# ------------------------------------------------------------------------------------------ the real data


def test_real_lexical_files_load_with_their_documented_row_counts():
    languages = ("Multi-SimLex ENG", "Multi-SimLex FRA", "Multi-SimLex RUS")
    found = real_benchmarks("lexical", "SimLex-999", *languages)
    assert {len(data) for _, data in found["SimLex-999"]} == {999}
    for name in languages:
        # one copy per language: the per-language files (where a folder has them) hold what the sheets hold,
        # so they are scored once
        assert [len(data) for _, data in found[name]] == [1888], name


def test_a_broken_msl_sheet_is_an_error_not_a_silent_skip(tmp_path):
    write(tmp_path / "multisimlex" / "scores.csv", "")
    with pytest.raises(DataError, match=r"scores.csv: empty file"):
        load_tasks(discover("lexical", tmp_path), tmp_path)
    (tmp_path / "multisimlex" / "scores.csv").write_bytes(b"ID,ENG 1,ENG 2,ENG\n1,caf\xe9,b,1.0\n")
    with pytest.raises(DataError, match=r"scores.csv, line 2: not valid UTF-8"):
        load_tasks(discover("lexical", tmp_path), tmp_path)
    write(tmp_path / "other" / "scores.csv", "team,points\na,1\n")  # an unrelated scores.csv is not a benchmark
    (tmp_path / "multisimlex" / "scores.csv").unlink()
    with pytest.raises(DataError, match="no Word similarity benchmark found"):
        discover("lexical", tmp_path)


# ------------------------------------------------------------------------------------------ the releases as released

RELEASES = RELEASE.parent  # each release as it unpacks, a few lines per file (SOURCE.md)


@pytest.mark.parametrize(
    "folder, names",
    [
        ("simlex999", ["SimLex-999"]),
        ("wordsim353", ["WordSim-353 combined.csv", "WordSim-353 combined.tab", "WordSim-353 rel", "WordSim-353 sim"]),
        ("men", ["MEN", "MEN lemma"]),
    ],
)
def test_release_discovery_finds_exactly_its_benchmarks(folder, names):
    tasks = discover("lexical", RELEASES / folder)
    assert [t.name for t in tasks] == names  # not set1/set2, the annotator files, MEN's agreement/ ratings, dev/test
    assert not any(t.optional for t in tasks)  # release names: a malformed file is an error, not a skip


def test_release_simlex_wordsim_and_men_pairs():
    simlex = load_word_pairs(RELEASES / "simlex999" / "SimLex-999" / "SimLex-999.txt")  # header, 10 columns, CRLF
    assert simlex.content() == (
        ["old", "smart", "hard", "happy", "hard"], ["new", "intelligent", "difficult", "cheerful", "easy"],
        [1.58, 9.2, 8.77, 9.55, 0.95],
    )  # fmt: skip
    combined = load_word_pairs(RELEASES / "wordsim353" / "combined.csv")  # CRLF
    assert combined.content() == (
        ["love", "tiger", "tiger", "book", "computer"], ["sex", "cat", "tiger", "paper", "keyboard"],
        [6.77, 7.35, 10.0, 7.46, 7.62],
    )  # fmt: skip
    assert load_word_pairs(RELEASES / "wordsim353" / "combined.tab").content() == combined.content()
    sim = load_word_pairs(RELEASES / "wordsim353" / "wordsim353_sim_rel" / "wordsim_similarity_goldstandard.txt")
    assert sim.words2 == ["cat", "tiger", "car", "car", "radio"] and sim.scores[1] == 10.0
    men = load_word_pairs(RELEASES / "men" / "MEN" / "MEN_dataset_natural_form_full")  # space-separated, no header
    assert men.words1 == ["sun", "automobile", "river", "stairs", "morning"] and men.scores == [50.0, 50.0, 49.0, 49.0, 49.0]
    lemma = load_word_pairs(RELEASES / "men" / "MEN" / "MEN_dataset_lemma_form_full", strip_pos=True)
    assert lemma.words1 == ["sun", "automobile", "river", "stair", "morning"]  # 'stair-n'


def test_releases_evaluate_end_to_end(tiny_bert):
    table, meta = evaluate_suite("lexical", [str(tiny_bert)], RELEASES, log=lambda msg: None)
    assert list(table.columns) == [
        "SimLex-999", *(f"Multi-SimLex {lang}" for lang in RELEASE_LANGUAGES), "WordSim-353", "WordSim-353 rel",
        "WordSim-353 sim", "MEN", "MEN lemma", "avg",
    ]  # fmt: skip
    assert table.notna().all(axis=None)
    assert [t["pairs"] for t in meta["tasks"]] == [5, 7, 7, 7, 7, 6, 7, 7, 7, 7, 7, 7, 7, 7, 5, 5, 5, 5, 5]
    assert meta["notes"] == [
        f"multisimlex/{note}" for note in RELEASE_NOTES
    ] + ["wordsim353/combined.tab holds the same data as WordSim-353: scored once"]


def test_a_broad_name_that_is_not_a_benchmark_is_skipped_with_a_note(tmp_path, tiny_bert, capsys):
    men = tmp_path / "men"
    shutil.copytree(RELEASES / "men", men)
    write(men / "MEN" / "MEN_notes.txt", "Notes on our copy of MEN\nWe kept the natural form.\n")  # a `men` token
    write(men / "ws353" / "wordsim353_readme_fr.txt", "Notes de 0 à 10\n")  # a `wordsim` name, prose
    tasks = discover("lexical", men)
    assert [(t.name, t.optional) for t in tasks] == [
        ("WordSim-353", True), ("MEN MEN_dataset_natural_form_full", False), ("MEN MEN_notes.txt", True),
        ("MEN lemma", False),
    ]  # fmt: skip
    main = runpy.run_path(str(Path(__file__).parents[1] / "eval" / "eval_lexical.py"), run_name="eval.eval_lexical")["main"]
    table = main(["--model", str(tiny_bert), "--data_dir", str(men), "--output_dir", str(tmp_path / "out")])
    assert list(table.columns) == ["MEN", "MEN lemma", "avg"]
    notes = json.loads((tmp_path / "out" / "results.json").read_text())["notes"]
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: ")]
    assert printed == [f"note: {n}" for n in notes]
    assert notes == [
        "ws353/wordsim353_readme_fr.txt: not read as WordSim-353, skipped (ws353/wordsim353_readme_fr.txt, line 1: "
        "expected 3 columns (word, word, score) or a header naming the score column, got 5)",
        "MEN/MEN_notes.txt: not read as MEN, skipped (MEN/MEN_notes.txt, line 1: cannot tell which header column "
        "holds the score in ['Notes', 'on', 'our', 'copy', 'of', 'MEN']; expected one named like score, scores, "
        "similarity, sim, simlex999, humanmean, ...)",
    ]


def test_a_malformed_file_with_a_release_name_still_stops_the_run(tmp_path):
    write(tmp_path / "MEN" / "MEN_dataset_natural_form_full", "sun sunlight 50.000000\nautomobile car\n")
    write(tmp_path / "MEN" / "MEN_notes.txt", "prose\n")
    with pytest.raises(DataError, match=r"MEN_dataset_natural_form_full, line 2: expected 3 space-separated columns, got 2"):
        load_tasks(discover("lexical", tmp_path), tmp_path)


def test_only_unreadable_broad_names_is_an_error_listing_them(tmp_path):
    write(tmp_path / "MEN_notes.txt", "prose\n")
    with pytest.raises(DataError, match=r"no benchmark file could be read; MEN_notes.txt: not read as MEN, skipped"):
        load_tasks(discover("lexical", tmp_path), tmp_path)
