import torch

from mirror.collator import MirrorCollator, string_id
from mirror.data import TextDataset

CLS, SEP, MASK, PAD = 101, 102, 103, 0
HELLO, WORLD, GOOD, MORNING = 7592, 2088, 2204, 2851  # bert-base-uncased WordPiece ids


def test_layout_duplicates_and_pads_to_longest(bert_tokenizer):
    collator = MirrorCollator(bert_tokenizer, max_length=50, span_mask_len=0)
    batch = collator(["hello world", "good morning world"])
    expected_ids = torch.tensor(
        [
            [CLS, HELLO, WORLD, SEP, PAD],
            [CLS, GOOD, MORNING, WORLD, SEP],
            [CLS, HELLO, WORLD, SEP, PAD],
            [CLS, GOOD, MORNING, WORLD, SEP],
        ]
    )
    expected_mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    assert torch.equal(batch["input_ids"], expected_ids)
    assert torch.equal(batch["attention_mask"], expected_mask)
    assert torch.equal(batch["token_type_ids"], torch.zeros(4, 5, dtype=torch.long))


def test_second_copy_is_masked_first_is_not(bert_tokenizer):
    text = "hello world " * 4  # 48 characters, long enough to be masked
    collator = MirrorCollator(bert_tokenizer, max_length=50, span_mask_len=5, seed=3)
    batch = collator([{"idx": 0, "text": text.strip()}])
    first, second = batch["input_ids"]
    assert MASK not in first.tolist()
    assert second.tolist().count(MASK) == 1
    assert first[0] == CLS and second[0] == CLS


def test_truncation_at_max_length(bert_tokenizer):
    collator = MirrorCollator(bert_tokenizer, max_length=4, span_mask_len=0)
    batch = collator(["hello world good morning hello world"])
    assert torch.equal(batch["input_ids"], torch.tensor([[CLS, HELLO, WORLD, SEP]] * 2))


def _rows(batch, start):
    return [[t for t in row.tolist() if t != PAD] for row in batch["input_ids"][start:]]


def test_masks_keyed_by_index_are_reproducible_and_change_with_epoch(bert_tokenizer):
    items = [{"idx": i, "text": f"sentence number {i} is long enough to be masked here"} for i in range(8)]
    c1 = MirrorCollator(bert_tokenizer, span_mask_len=5, seed=1)
    c2 = MirrorCollator(bert_tokenizer, span_mask_len=5, seed=1)
    # the same strings in another order and another batch split get the same masked copies
    whole = _rows(c1(items), 8)
    split = _rows(c2(items[4:]), 4) + _rows(c2(items[:4]), 4)
    assert whole == split[4:] + split[:4]
    assert all(row.count(MASK) == 1 for row in whole)
    c1.epoch = 1
    assert _rows(c1(items), 8) != whole  # a new epoch masks differently
    c3 = MirrorCollator(bert_tokenizer, span_mask_len=5, seed=2)
    assert _rows(c3(items), 8) != whole  # so does another seed


def test_roberta_uses_its_own_mask_token(tiny_roberta):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_roberta)
    collator = MirrorCollator(tok, span_mask_len=5, seed=0)
    batch = collator(["A man is playing a large flute in the park today."])
    assert tok.mask_token == "<mask>" and "[MASK]" not in tok.get_vocab()  # BERT's literal would be unknown here
    assert tok.mask_token_id in batch["input_ids"][1].tolist() and tok.mask_token_id not in batch["input_ids"][0].tolist()
    assert set(batch) == {"input_ids", "attention_mask", "string_ids"}  # RoBERTa has no token types


def test_pair_layout_anchors_then_partners_and_string_ids(bert_tokenizer):
    collator = MirrorCollator(bert_tokenizer, max_length=50, span_mask_len=0)
    pairs = [("hello world", "good morning"), ("good morning world", "hello")]
    batch = collator([TextDataset(pairs=pairs)[i] for i in range(2)])
    expected_ids = torch.tensor(
        [
            [CLS, HELLO, WORLD, SEP, PAD],  # anchor 0
            [CLS, GOOD, MORNING, WORLD, SEP],  # anchor 1
            [CLS, GOOD, MORNING, SEP, PAD],  # partner of 0
            [CLS, HELLO, SEP, PAD, PAD],  # partner of 1
        ]
    )
    assert torch.equal(batch["input_ids"], expected_ids)
    assert torch.equal(batch["attention_mask"], (expected_ids != PAD).long())
    strings = ["hello world", "good morning world", "good morning", "hello"]
    assert torch.equal(batch["string_ids"], torch.tensor([string_id(s) for s in strings]))
    assert len(set(batch["string_ids"].tolist())) == 4


def test_string_ids_mark_identical_strings_across_rows_and_ignore_the_mask(bert_tokenizer):
    collator = MirrorCollator(bert_tokenizer, span_mask_len=5, min_mask_chars=0, seed=0)
    pairs = [("the cat sat on the mat", "hello world"), ("hello world", "good morning world")]
    batch = collator([{"idx": i, "text": a, "partner": b} for i, (a, b) in enumerate(pairs)])
    ids = batch["string_ids"].tolist()
    assert ids[2] == ids[1] and len(set(ids)) == 3  # partner of row 0 == anchor of row 1, though masked
    assert MASK in batch["input_ids"][2].tolist()
    single = collator([{"idx": 0, "text": "hello world"}])["string_ids"].tolist()
    assert single[0] == single[1] == string_id("hello world")  # self-duplication: the copy is the same string
    assert string_id("hello world") != string_id("hello world ")


def test_the_partner_is_masked_keyed_by_row_index_like_the_copy(bert_tokenizer):
    partner = "good morning world " * 3
    items = [{"idx": i, "text": f"anchor {i} " * 5, "partner": partner.strip()} for i in range(4)]
    collator = MirrorCollator(bert_tokenizer, span_mask_len=5, seed=7)
    batch = collator(items)
    assert all(MASK not in row for row in _rows(batch, 0)[:4])  # anchors untouched
    partners = _rows(batch, 4)
    assert all(row.count(MASK) == 1 for row in partners)
    assert len({tuple(row) for row in partners}) > 1  # each row its own mask, keyed by its index
    # the partner of row i is masked exactly as the copy of a string at index i would be
    copies = _rows(collator([{"idx": i, "text": partner.strip()} for i in range(4)]), 4)
    assert partners == copies
    assert _rows(collator(items[2:] + items[:2]), 4) == partners[2:] + partners[:2]  # batch order does not matter
    collator.epoch = 1
    assert _rows(collator(items), 4) != partners
