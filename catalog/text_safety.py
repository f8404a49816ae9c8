"""Characters a catalog string may not carry: they would reach keys, manifests and HTML unseen.

A row holding one is quarantined, never cleaned: silently dropping a bidi override or a
zero-width space would publish a SKU that looks like another one. Refused, by Unicode
general category: controls (Cc, NUL included), formats (Cf: bidi controls, zero-width
characters, BOM), surrogates (Cs), private use (Co), unassigned code points (Cn), and the
line/paragraph separators (Zl, Zp). Ordinary spaces (Zs, e.g. no-break space) are allowed.
"Unassigned" follows the running Python's Unicode database (3.11: Unicode 14.0), so a newer
emoji is refused until Python knows it: unknown code points cannot be shown to be harmless.
"""

import unicodedata
from collections.abc import Iterable

# Line breaks and tabs are ordinary in free marketing text, and `description` never reaches
# the prompt, a key or a single-line log. `title` is deliberately NOT exempt: it is a one-line
# product name that the report and the contact sheet print in one cell, and a line break there
# is a paste error that would also reach the risk scorer's text.
ALLOWED_WHITESPACE: dict[str, frozenset[str]] = {
    "description": frozenset("\t\n\r\u2028\u2029"),
}

# Explicit directional formatting characters (Unicode UAX #9, section 2): the "Trojan Source"
# characters that make text display in an order other than the one stored.
BIDI_CONTROLS: frozenset[str] = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

_CATEGORY_NAMES: dict[str, str] = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Cs": "a surrogate code point",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def character_class(char: str) -> str | None:
    """What kind of refused character `char` is ('a bidi control character', ...), or None if allowed."""
    if char == "\x00":
        return "a NUL character"
    if char in BIDI_CONTROLS:
        return "a bidi control character"
    return _CATEGORY_NAMES.get(unicodedata.category(char))


def unsafe_character_reason(column: str, value: object) -> str | None:
    """A quarantine reason naming the first refused character in `value`, or None when it has none."""
    # str.isprintable() is False exactly for categories C* and Z* (except ' '): a C-speed fast path.
    if not isinstance(value, str) or value.isprintable():
        return None
    allowed = ALLOWED_WHITESPACE.get(column, frozenset())
    for char in value:
        if char in allowed:
            continue
        kind = character_class(char)
        if kind is not None:
            return f"{column} contains {kind} U+{ord(char):04X}"
    return None


def unsafe_character_reasons(column: str, values: Iterable[object]) -> dict[int, str]:
    """Row position -> reason for every value of one column that holds a refused character."""
    reasons = {}
    for index, value in enumerate(values):
        reason = unsafe_character_reason(column, value)
        if reason is not None:
            reasons[index] = reason
    return reasons
