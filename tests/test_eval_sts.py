"""STS loaders, scorers and discovery: small files in each format, hand-computed scores, the real data's row counts."""

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import real_benchmarks
from evalkit import FakeEncoder, bag_of_words, pair_vectors, write
from scipy.stats import spearmanr

from mirror.errors import DataError
from mirror.evaluation import CachedEncoder, load_sick, load_sts_year, load_stsb, score_sts, score_sts_year
from mirror.evaluation import sts
from mirror.evaluation.suite import discover, evaluate_suite, load_tasks


def make_year(folder, subsets: dict[str, tuple[list[float], list[str]]], prefix="STS"):
    """subsets: name -> (cosines, gold lines); pair i of subset X is 'XL<i>' / 'XR<i>'."""
    vectors = {}
    for name, (cosines, gold) in subsets.items():
        vectors.update(pair_vectors(name, cosines))
        lines = [f"{name}L{i}\t{name}R{i}" for i in range(len(cosines))]
        write(folder / f"{prefix}.input.{name}.txt", "\n".join(lines) + "\n")
        write(folder / f"{prefix}.gs.{name}.txt", "\n".join(gold) + "\n")
    return FakeEncoder(vectors)


def test_all_and_wmean_by_hand(tmp_path):
    # subset A: cosines rank like the gold (rho 1); subset B: one swap (rho 1 - 6*2/(3*8) = 0.5)
    # a blank gold line marks an unscored pair: dropped, its input line never read (here it is malformed)
    folder = tmp_path / "STS13-en-test"
    enc = make_year(folder, {"A": ([0.1, 0.5, 0.9], ["1", "2", "3"]), "B": ([0.2, 0.6, 0.4], ["4", "5", "6"])})
    write(folder / "STS.input.B.txt", "BL0\tBR0\nnot a pair\nBL1\tBR1\nBL2\tBR2\n")
    write(folder / "STS.gs.B.txt", "4\n\n5\n6\n")
    year = load_sts_year(folder)
    assert year.name == "STS13" and len(year) == 6 and year.unscored == 1
    assert year.subsets["B"].sents1 == ["BL0", "BL1", "BL2"]
    scores = score_sts_year(enc, year)
    assert scores["subset:A"] == pytest.approx(100.0)
    assert scores["subset:B"] == pytest.approx(50.0)
    assert scores["wmean"] == pytest.approx((3 * 100 + 3 * 50) / 6)
    # all: cosine ranks [1,4,6,2,5,3] vs gold ranks [1..6]: sum d^2 = 26, rho = 1 - 6*26/(6*35)
    assert scores["all"] == pytest.approx(100 * (1 - 6 * 26 / 210))
    assert scores["pairs"] == 6
    assert len(enc.calls) == 1 and len(enc.calls[0]) == len(set(enc.calls[0])) == 12  # one call, unique strings


def test_score_sts_by_hand_and_one_encode_call():
    data = sts.PairData(["a", "a", "a", "a"], ["b0", "b1", "b2", "b3"], [1.0, 2.0, 3.0, 4.0])
    vectors = {"a": [1.0, 0.0], **{f"b{i}": pair_vectors("x", [c])["xR0"] for i, c in enumerate([0.1, 0.3, 0.2, 0.9])}}
    enc = FakeEncoder(vectors)
    out = score_sts(enc, data)
    assert out == {"spearman": pytest.approx(80.0), "pairs": 4}  # one swap of 4: 1 - 6*2/(4*15)
    assert enc.calls == [["a", "b0", "b1", "b2", "b3"]]


def test_stsb_official_and_senteval_layouts(tmp_path):
    path = write(
        tmp_path / "sts-test.csv",
        'main-captions\tMSRvid\t2012test\t0001\t2.500\tA "quoted" girl.\tA girl.\n'
        "main-news\theadlines\t2015\t0002\t4.0\tB\tC\tsrc1\tsrc2\n",
    )
    data = load_stsb(path)
    assert data.sents1 == ['A "quoted" girl.', "B"] and data.sents2 == ["A girl.", "C"] and data.scores == [2.5, 4.0]


def test_sick_split_file_with_and_without_header_and_full_release(tmp_path):
    body = "1\tA man.\tA person.\t4.5\tENTAILMENT\n2\tA dog.\tA cat.\t1.2\tNEUTRAL\n"
    header = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\r\n"
    plain = load_sick(write(tmp_path / "a" / "SICK_test_annotated.txt", body))
    with_header = load_sick(write(tmp_path / "b" / "SICK_test_annotated.txt", header + body.replace("\n", "\r\n")))
    assert plain.content() == with_header.content() == (["A man.", "A dog."], ["A person.", "A cat."], [4.5, 1.2])
    cols = "pair_ID\tsentence_A\tsentence_B\tentailment_label\trelatedness_score\tentailment_AB\tentailment_BA\t"
    cols += "sentence_A_original\tsentence_B_original\tsentence_A_dataset\tsentence_B_dataset\tSemEval_set\n"
    rows = [f"{i}\tS{i}\tT{i}\tNEUTRAL\t{i}.0\tx\ty\to\to\td\td\t{split}\n" for i, split in enumerate(["TRAIN", "TEST", "TRIAL", "TEST"], 1)]
    full = load_sick(write(tmp_path / "SICK.txt", cols + "".join(rows)))
    assert full.sents1 == ["S2", "S4"] and full.scores == [2.0, 4.0] and full.other_split == 2


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("sts-test.csv", "", "sts-test.csv: empty file"),
        ("sts-test.csv", "g\tf\ty\t1\t2.0\tA\tB\ng\tf\ty\t2\t3.0\tA only\n", "sts-test.csv, line 2: expected at least 7"),
        ("sts-test.csv", "g\tf\ty\t1\t2.0\tA\tB\ng\tf\ty\t2\tfive\tA\tB\n", "sts-test.csv, line 2: score 'five' is not a number"),
        ("SICK_test_annotated.txt", "1\tA\tB\t4.5\tN\n2\tA\tB\t4.5\n", "SICK_test_annotated.txt, line 2: expected 5"),
        ("SICK_test_annotated.txt", "1\tA\tB\t4.5\tN\n2\tA\tB\tnan\tN\n", "line 2: relatedness score 'nan' is not a finite"),
    ],
)
def test_pair_file_errors_name_file_and_line(tmp_path, name, text, message):
    path = write(tmp_path / name, text)
    loader = load_stsb if name.startswith("sts") else load_sick
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        loader(path)


def test_missing_file_and_sts_year_errors(tmp_path):
    with pytest.raises(DataError, match="nope.csv: no such file"):
        load_stsb(tmp_path / "nope.csv")
    folder = tmp_path / "STS14-en-test"
    write(folder / "STS.input.images.txt", "a\tb\nc\td\ne\tf\n")
    with pytest.raises(DataError, match=r"STS.gs.images.txt: no such file \(the gold scores for .*STS.input.images.txt\)"):
        load_sts_year(folder)
    write(folder / "STS.gs.images.txt", "1\n2\n")
    with pytest.raises(DataError, match="STS.gs.images.txt: 2 lines, but .*STS.input.images.txt has 3"):
        load_sts_year(folder)
    write(folder / "STS.gs.images.txt", "1\n2\nabc\n")
    with pytest.raises(DataError, match="STS.gs.images.txt, line 3: gold score 'abc' is not a number"):
        load_sts_year(folder)
    write(folder / "STS.gs.images.txt", "1\n2\n3\n")
    write(folder / "STS.input.images.txt", "a\tb\nc d\ne\tf\n")
    with pytest.raises(DataError, match="STS.input.images.txt, line 2: expected 2 tab-separated sentences"):
        load_sts_year(folder)


def test_a_trailing_newline_in_one_file_is_not_a_misalignment(tmp_path):
    folder = tmp_path / "sts15"
    write(folder / "STS.input.belief.txt", "a\tb\nc\td\ne\tf\n")
    write(folder / "STS.gs.belief.txt", "1\n\n3\n\n\n")  # the last pair scored, one unscored, then stray blank lines
    year = load_sts_year(folder)
    assert year.name == "STS15" and len(year) == 2 and year.unscored == 1


def test_discovery_names_years_from_folders_prefixes_or_subsets(tmp_path):
    write(tmp_path / "STS" / "STS12-en-test" / "STS.input.MSRpar.txt", "a\tb\nc\td\n")
    write(tmp_path / "STS" / "STS12-en-test" / "STS.gs.MSRpar.txt", "1\n2\n")
    write(tmp_path / "STS" / "STS12-en-test" / "STS.gs.ALL.txt", "1\n2\n")
    write(tmp_path / "raw" / "sts2016-english-with-gs-v1.0" / "STS2016.input.plagiarism.txt", "a\tb\tsrc\tsrc\nc\td\ts\ts\ne\tf\ts\ts\n")
    write(tmp_path / "raw" / "sts2016-english-with-gs-v1.0" / "STS2016.gs.plagiarism.txt", "1\n\n3\n")
    write(tmp_path / "raw" / "sts-en-test-gs-2014" / "STS.input.deft-forum.txt", "a\tb\nc\td\ne\tf\n")
    write(tmp_path / "raw" / "sts-en-test-gs-2014" / "STS.gs.deft-forum.txt", "1\n2\n3\n")
    write(tmp_path / "raw" / "test_evaluation_task2a" / "STS.input.answers-forums.txt", "a\tb\nc\td\n")
    write(tmp_path / "raw" / "test_evaluation_task2a" / "STS.gs.answers-forums.txt", "1\n2\n")
    write(tmp_path / "stsbenchmark" / "sts-test.csv", "g\tf\ty\t1\t2.0\tA\tB\ng\tf\ty\t2\t3.0\tC\tD\n")
    write(tmp_path / "stsbenchmark" / "sts-dev.csv", "g\tf\ty\t1\t2.0\tA\tB\n")  # not a test set
    write(tmp_path / "SICK" / "SICK_test_annotated.txt", "1\tA\tB\t4.5\tN\n2\tC\tD\t1.0\tN\n")
    write(tmp_path / "SICK" / "SICK_train.txt", "1\tA\tB\t4.5\tN\n")
    tasks = sts.find_tasks(tmp_path)
    assert [t.name for t in tasks] == ["STS12", "STS14", "STS15", "STS16", "STS-B", "SICK-R"]
    assert [c for c, _ in tasks[0].columns()] == ["STS12 (all)", "STS12 (wmean)"]
    assert [c for c, _ in tasks[0].columns(detail=True)] == ["STS12 (all)", "STS12 (wmean)", "STS12 MSRpar"]
    loaded, notes = load_tasks(tasks, tmp_path)
    assert len(loaded[3][1]) == 2 and loaded[3][1].unscored == 1  # STS16: 3 pairs, 1 unscored
    assert any("STS.gs.ALL.txt" in n for n in notes)


def test_copies_of_one_benchmark_are_named_by_the_differing_folder(tmp_path):
    row = "g\tf\ty\t1\t2.0\tA\tB\ng\tf\ty\t2\t3.0\tC\tD\n"
    write(tmp_path / "stsb" / "original" / "sts-test.csv", row)
    write(tmp_path / "stsb" / "senteval" / "sts-test.csv", row.lower())
    write(tmp_path / "stsb" / "copy" / "sts-test.csv", row)  # identical to original: scored once
    tasks = discover("sts", tmp_path)
    assert [t.name for t in tasks] == ["STS-B copy", "STS-B original", "STS-B senteval"]
    loaded, notes = load_tasks(tasks, tmp_path)
    assert [t.name for t, _ in loaded] == ["STS-B copy", "STS-B senteval"]
    assert notes == ["stsb/original/sts-test.csv holds the same data as STS-B copy: scored once"]


def test_cached_encoder_encodes_each_string_once():
    enc = FakeEncoder({"a": [1, 0], "b": [0, 1], "c": [1, 1]})
    cached = CachedEncoder(enc)
    assert cached(["a", "b", "a"]).shape == (3, 2)
    assert np.allclose(cached(["c", "a"]), [[1, 1], [1, 0]])
    assert enc.calls == [["a", "b"], ["c"]]


# ------------------------------------------------------------------------------------------ the real data


STS12_SUBSETS = {"MSRpar": 750, "MSRvid": 750, "SMTeuroparl": 459, "surprise.OnWN": 750, "surprise.SMTnews": 399}


def test_real_sts_files_load_with_their_documented_row_counts():
    found = real_benchmarks("sts", "STS12", "STS-B", "SICK-R")
    assert {len(data) for _, data in found["STS-B"]} == {1379}  # the test split, in every copy
    for task, data in found["SICK-R"]:  # the SemEval-2014 test file, or the TEST rows of the full release
        assert (len(data), data.other_split) in {(4927, 0), (4906, 9840 - 4906)}, task.name
    for task, year in found["STS12"]:
        assert year.name == "STS12" and len(year) == 3108 and year.unscored == 0, task.name
        assert {k: len(v) for k, v in year.subsets.items()} == STS12_SUBSETS, task.name
        gold_all = task.location / "STS.gs.ALL.txt"  # the release's concatenation, where the copy keeps it
        if gold_all.is_file():
            assert [s for d in year.subsets.values() for s in d.scores] == [float(x) for x in gold_all.read_text().split()]


def test_real_sts_discovery_names_every_copy_apart():
    names = [task.name for copies in real_benchmarks("sts", "STS12", "STS-B", "SICK-R").values() for task, _ in copies]
    assert len(names) == len(set(names)) and all(name for name in names)


def test_real_sts12_all_and_wmean_differ_and_match_an_independent_computation():
    task, year = real_benchmarks("sts", "STS12")["STS12"][0]
    folder = task.location
    scores = score_sts_year(bag_of_words, year)
    # independent: pandas reads each subset, drops blank gold, scipy on the concatenation and per subset
    cos_all, gold_all, per = [], [], {}
    for name in STS12_SUBSETS:
        pairs = pd.read_csv(folder / f"STS.input.{name}.txt", sep="\t", header=None, quoting=3, usecols=[0, 1], keep_default_na=False)
        gold = pd.read_csv(folder / f"STS.gs.{name}.txt", header=None, skip_blank_lines=False)[0]
        a, b = bag_of_words(pairs[0].tolist()), bag_of_words(pairs[1].tolist())
        # the same float32 arithmetic as the scorer: many pairs tie exactly (same words), and float noise would
        # break those ties differently; what is checked here is reading, alignment and the two protocols
        a, b = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
        cos = (a * b).sum(1)
        per[name] = (spearmanr(cos, gold).statistic * 100, len(gold))
        cos_all.append(cos)
        gold_all.append(gold)
    expected_all = spearmanr(np.concatenate(cos_all), pd.concat(gold_all)).statistic * 100
    expected_wmean = sum(r * n for r, n in per.values()) / sum(n for _, n in per.values())
    assert scores["all"] == pytest.approx(expected_all, abs=1e-6)
    assert scores["wmean"] == pytest.approx(expected_wmean, abs=1e-6)
    assert abs(scores["all"] - scores["wmean"]) > 1.0  # the protocols really differ on STS12
    assert math.isfinite(scores["subset:MSRvid"])


def test_copies_in_different_trees_are_named_by_their_first_differing_folder(tmp_path):
    for folder, prefix in (("raw/sts2016-english-with-gs-v1.0", "STS2016"), ("senteval/STS/STS16-en-test", "STS")):
        write(tmp_path / folder / f"{prefix}.input.headlines.txt", "a\tb\nc\td\n")
        write(tmp_path / folder / f"{prefix}.gs.headlines.txt", "1\n2\n")
    assert [t.name for t in discover("sts", tmp_path)] == ["STS16 raw", "STS16 senteval"]


# ------------------------------------------------------------------------------------------ the releases as released

RELEASES = Path(__file__).parent / "fixtures" / "releases"  # each release as it unpacks, a few lines per file (SOURCE.md)
SENTEVAL_STS = ["STS12", "STS13", "STS14", "STS15", "STS16", "STS-B", "SICK-R"]


@pytest.mark.parametrize(
    "folder, names",
    [
        ("sts12", ["STS12"]), ("sts13", ["STS13"]), ("sts14", ["STS14"]), ("sts15", ["STS15"]), ("sts16", ["STS16"]),
        ("stsb", ["STS-B"]), ("sick", ["SICK-R full", "SICK-R semeval2014"]), ("senteval", SENTEVAL_STS),
    ],
)  # fmt: skip
def test_release_discovery_finds_exactly_its_benchmarks(folder, names):
    tasks = discover("sts", RELEASES / folder)
    assert [t.name for t in tasks] == names
    assert not any(t.optional for t in tasks)  # release names: a malformed file is an error, not a skip


def test_release_sts_years_read_only_inputs_and_gold():
    tasks = {t.name: t for t in discover("sts", RELEASES / "sts13")}
    assert sorted(f.name for f in tasks["STS13"].files) == [
        "STS.gs.FNWN.txt", "STS.gs.OnWN.txt", "STS.gs.headlines.txt",
        "STS.input.FNWN.txt", "STS.input.OnWN.txt", "STS.input.headlines.txt",
    ]  # fmt: skip  # not STS.output.*, the perl scorers, 00-readme.txt, nor SMT's gold without sentences
    files = {f.name for f in discover("sts", RELEASES / "sts16")[0].files}
    subsets = ("answer-answer", "headlines", "plagiarism", "postediting", "question-question")
    assert files == {f"STS2016.{kind}.{s}.txt" for kind in ("input", "gs") for s in subsets}  # not the .ascii copies


def test_release_sts12_test_gold():
    year = load_sts_year(RELEASES / "sts12" / "test-gold")
    assert year.name == "STS12" and {k: len(v) for k, v in year.subsets.items()} == {
        "MSRpar": 4, "MSRvid": 4, "SMTeuroparl": 4, "surprise.OnWN": 4, "surprise.SMTnews": 4,
    }  # fmt: skip
    assert year.subsets["MSRpar"].scores == [4.4, 0.8, 3.6, 3.4] and year.subsets["MSRvid"].scores == [5.0, 5.0, 4.75, 5.0]
    assert year.subsets["MSRpar"].sents2[0] == (
        "He said the problem needs to be corrected before the space shuttle fleet is cleared to fly again."
    )
    assert year.ignored == ["STS.gs.ALL.txt"]
    gold_all = (RELEASES / "sts12" / "test-gold" / "STS.gs.ALL.txt").read_text().split()
    assert [s for d in year.subsets.values() for s in d.scores] == [float(x) for x in gold_all]


def test_release_sts13_without_smt_sentences_and_sts14():
    year = load_sts_year(RELEASES / "sts13" / "test-gs", "STS13")
    assert list(year.subsets) == ["FNWN", "OnWN", "headlines"] and len(year) == 12
    assert year.ignored == ["STS.gs.SMT.txt"]  # gold without sentences: STS13's SMT input is licensed by LDC
    assert year.subsets["headlines"].sents2[0] == "Suspected drug lord known as \u2018El Taliban\u2019 held in Mexico"
    assert year.subsets["OnWN"].scores == [0.8, 3.0, 3.8, 2.2]
    sts14 = load_sts_year(RELEASES / "sts14" / "sts-en-test-gs-2014")
    assert sts14.name == "STS14" and len(sts14.subsets) == 6 and len(sts14) == 24
    assert sts14.subsets["deft-forum"].scores == [3.0, 0.8, 3.8, 1.0]  # integer and decimal gold alike


def test_release_sts15_and_sts16_blank_gold_lines_are_unscored():
    sts15 = load_sts_year(RELEASES / "sts15" / "test_evaluation_task2a")
    assert sts15.name == "STS15" and (len(sts15), sts15.unscored) == (15, 10)
    forums = sts15.subsets["answers-forums"]
    assert forums.scores == [3.0, 0.6, 1.0] and forums.unscored == 2
    sts16 = load_sts_year(RELEASES / "sts16" / "sts2016-english-with-gs-v1.0")
    assert sts16.name == "STS16" and (len(sts16), sts16.unscored) == (15, 10)
    headlines = sts16.subsets["headlines"]  # 4 columns: the two source-note columns are not sentences
    assert headlines.scores == [4.0, 5.0, 5.0]
    assert headlines.sents1[0] == "Driver backs into stroller with child, drives off"
    assert headlines.sents2[0] == "Driver backs into mom, stroller with child then drives off"


def test_release_stsb_seven_and_nine_columns_and_sick_split_and_full():
    stsb = load_stsb(RELEASES / "stsb" / "stsbenchmark" / "sts-test.csv")
    assert stsb.scores == [2.5, 3.6, 5.0, 3.0, 3.0]
    assert stsb.sents1[3].endswith("every two hours. ")  # 9-column row: the sentence as released, licence columns dropped
    assert stsb.sents2[4] == "It really depends on the school and the program."
    split = load_sick(RELEASES / "sick" / "semeval2014" / "SICK_test_annotated.txt")  # header, CRLF
    assert split.scores == [3.3, 3.7, 3.0, 4.9, 3.665] and split.other_split == 0
    assert split.sents2[-1] == "A brown dog is helping another animal in front of the man in pants"  # no '\r' left
    full = load_sick(RELEASES / "sick" / "full" / "SICK.txt")  # 12 columns, CRLF, no newline after the last row
    assert full.scores == [3.3, 3.7, 3.0] and full.other_split == 3
    assert full.sents2[-1] == "The young boys are playing outdoors and the man is smiling nearby"


def test_release_senteval_copies_tokenised_and_renamed():
    loaded, _ = load_tasks(discover("sts", RELEASES / "senteval"), RELEASES / "senteval")
    data = {t.name: d for t, d in loaded}
    assert {name: len(d) for name, d in data.items()} == {
        "STS12": 20, "STS13": 12, "STS14": 24, "STS15": 15, "STS16": 15, "STS-B": 3, "SICK-R": 4,
    }  # fmt: skip
    assert data["STS16"].subsets["headlines"].sents1[0] == "driver backs into stroller with child , drives off"
    assert data["STS-B"].sents1[0] == "a girl is styling her hair ."


def test_releases_evaluate_end_to_end(tiny_bert):
    table, meta = evaluate_suite("sts", [str(tiny_bert)], RELEASES, log=lambda msg: None)
    years = [f"STS{y} {copy}" for y in range(12, 17) for copy in ("senteval", f"sts{y}")]
    assert list(table.columns) == [c for name in years for c in (f"{name} (all)", f"{name} (wmean)")] + [
        "STS-B senteval", "STS-B stsb", "SICK-R senteval/SICK", "SICK-R sick/full", "SICK-R sick/semeval2014", "avg",
    ]  # fmt: skip
    assert table.notna().all(axis=None)
    assert [t["pairs"] for t in meta["tasks"]] == [20, 20, 12, 12, 24, 24, 15, 15, 15, 15, 3, 5, 4, 3, 5]
    all_note = "has no STS.input file beside it (the release's concatenation of the subsets): not scored"
    smt_note = "has no STS.input file beside it (STS13's SMT sentences are licensed separately, by LDC): not scored"
    assert meta["notes"] == [
        f"STS12 senteval: STS.gs.ALL.txt {all_note}", f"STS12 sts12: STS.gs.ALL.txt {all_note}",
        f"STS13 senteval: STS.gs.SMT.txt {smt_note}", f"STS13 sts13: STS.gs.SMT.txt {smt_note}",
    ]  # fmt: skip


def test_a_malformed_release_file_still_stops_the_run(tmp_path):
    shutil.copytree(RELEASES / "sts15", tmp_path / "sts15")
    gold = tmp_path / "sts15" / "test_evaluation_task2a" / "STS.gs.belief.txt"
    gold.write_text(gold.read_text().replace("4.00", "4,00"))
    with pytest.raises(DataError, match=r"STS.gs.belief.txt, line \d+: gold score '4,00' is not a number"):
        load_tasks(discover("sts", tmp_path), tmp_path)
