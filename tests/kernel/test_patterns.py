"""kernel.patterns: one pattern per identifier kind, matched whole."""

from __future__ import annotations

import re

import pytest

from kernel.patterns import EXTERNAL_REF, HEX_DIGEST, HEX_DIGEST_ANY_CASE, WORD, anchored


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (HEX_DIGEST, "ab" * 32, ["AB" * 32, "ab" * 31, "ab" * 32 + "\n", "ab" * 33]),
        (HEX_DIGEST_ANY_CASE, "aB" * 32, ["g" * 64, "ab" * 31]),
        (WORD, "account_open", ["Transfer", "1st", "a" * 33, "with space", ""]),
        (EXTERNAL_REF, "emp-42@acme.example:x+1", ["two words", "a/b", ""]),
    ],
)
def test_each_pattern_matches_whole_values_only(
    pattern: re.Pattern[str], good: str, bad: list[str]
) -> None:
    assert pattern.fullmatch(good)
    assert re.search(anchored(pattern), good)
    for value in bad:
        assert not pattern.fullmatch(value), value
        # RegexFields strip surrounding whitespace before the anchored pattern sees the value
        if value == value.strip():
            assert not re.search(anchored(pattern), value), value


def test_anchored_keeps_alternatives_inside_the_anchors() -> None:
    either = re.compile(r"ab|cd")
    assert re.search(anchored(either), "abzz") is None
    assert re.search(anchored(either), "cd")
