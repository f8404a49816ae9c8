"""Refused characters: each class is named with its code point; ordinary text and spaces pass."""

import pytest

from catalog.text_safety import ALLOWED_WHITESPACE, BIDI_CONTROLS, character_class, unsafe_character_reason


@pytest.mark.parametrize(
    "value, reason",
    [
        ("TBL-\u202e1", "sku contains a bidi control character U+202E"),
        ("TBL-\u2066", "sku contains a bidi control character U+2066"),
        ("TBL-\u200f", "sku contains a bidi control character U+200F"),
        ("TBL-\u200b1", "sku contains an invisible format character U+200B"),
        ("\ufeffTBL-1", "sku contains an invisible format character U+FEFF"),
        ("TBL-\x001", "sku contains a NUL character U+0000"),
        ("TBL-\x1b[31m", "sku contains a control character U+001B"),
        ("TBL-\x7f", "sku contains a control character U+007F"),
        ("TBL-\n1", "sku contains a control character U+000A"),
        ("TBL-\ue000", "sku contains a private-use character U+E000"),
        ("TBL-\U000f0000", "sku contains a private-use character U+F0000"),
        ("TBL-\ud800", "sku contains a surrogate code point U+D800"),
        ("TBL-\u0378", "sku contains an unassigned code point U+0378"),
        ("TBL-\u2028", "sku contains a line separator U+2028"),
        ("ok\x00 then \u202e", "sku contains a NUL character U+0000"),  # the first refused character
    ],
)
def test_refused_characters_are_named(value, reason):
    assert unsafe_character_reason("sku", value) == reason


@pytest.mark.parametrize(
    "column, value",
    [
        ("sku", "TBL-0000001"),
        ("title", "Café Ünïcode 北欧 Chair — 50 % off"),
        ("title", "no\u00a0break and ideographic\u3000spaces"),
        ("description", "Line one.\r\n\tLine two.\u2028Line three."),
        ("brand", None),
        ("sku", ""),
    ],
)
def test_ordinary_text_passes(column, value):
    assert unsafe_character_reason(column, value) is None


def test_only_description_may_break_lines():
    assert set(ALLOWED_WHITESPACE) == {"description"}
    assert unsafe_character_reason("title", "Oslo\r\nChair") == "title contains a control character U+000D"
    assert unsafe_character_reason("description", "a\u202eb") == "description contains a bidi control character U+202E"


def test_every_bidi_control_is_a_format_or_mark_character():
    assert all(character_class(char) == "a bidi control character" for char in BIDI_CONTROLS)
    assert character_class("a") is None and character_class(" ") is None
