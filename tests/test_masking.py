import random

from mirror.masking import mask_rng, span_mask

TEXT = "A man is playing a large flute in the park."  # 43 characters


def test_masks_exactly_k_characters_with_the_mask_token():
    for seed in range(50):
        out = span_mask(TEXT, 5, "[MASK]", random.Random(seed))
        assert out.count("[MASK]") == 1
        left, right = out.split("[MASK]")
        left, right = left.rstrip(), right.lstrip()
        # what is left is the text minus one run of 5 characters (up to the spaces around the mask)
        start = len(left)
        removed_end = len(TEXT) - len(right)
        assert TEXT.startswith(left) and TEXT.endswith(right)
        assert 5 <= removed_end - start <= 7  # 5 masked characters, plus at most one stripped space each side
        assert len(TEXT.replace(" ", "")) - len((left + right).replace(" ", "")) <= 5


def test_the_span_reaches_every_position_including_both_ends():
    text = "abcdefghijklmnopqrstuvwxyz0123"  # 30 characters: 26 possible starts for a 5-character span
    outs = {span_mask(text, 5, "#", random.Random(s), min_mask_chars=0) for s in range(2000)}
    assert len(outs) == 26
    assert "# fghijklmnopqrstuvwxyz0123" in outs  # span at the very start
    assert "abcdefghijklmnopqrstuvwxy #" in outs  # span at the very end (the original could not mask there)
    assert "abcdefghij # pqrstuvwxyz0123" in outs


def test_uses_the_given_mask_token():
    out = span_mask(TEXT, 3, "<mask>", random.Random(0))
    assert "<mask>" in out and "[MASK]" not in out


def test_short_strings_and_k_zero_are_untouched():
    rng = random.Random(0)
    assert span_mask("short text", 5, "[MASK]", rng) == "short text"  # 10 < 30 characters
    assert span_mask("short text", 5, "[MASK]", rng, min_mask_chars=0) != "short text"
    assert span_mask(TEXT, 0, "[MASK]", rng) == TEXT
    assert span_mask("abcde", 5, "[MASK]", rng, min_mask_chars=0) == "abcde"  # no longer than the span


def test_seeded_and_deterministic():
    a = [span_mask(TEXT, 5, "[MASK]", random.Random(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    outs = {span_mask(TEXT, 5, "[MASK]", random.Random(s)) for s in range(20)}
    assert len(outs) > 5


def test_mask_rng_depends_on_seed_epoch_and_key_only():
    draw = lambda *k: mask_rng(*k).random()
    assert draw(1, 0, 5) == draw(1, 0, 5)
    assert len({draw(1, 0, 5), draw(2, 0, 5), draw(1, 1, 5), draw(1, 0, 6)}) == 4
