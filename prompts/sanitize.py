"""Make untrusted catalog text safe to place in a prompt slot."""

import re
import unicodedata

# Unicode general categories removed outright: controls (Cc), formats (Cf: zero-width
# joiners, bidi overrides, BOM), surrogates, private use and unassigned code points.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# After dropping, anything that is not a letter, mark, digit, space or one of these is
# replaced by a space: prompt-weighting syntax such as "(word:1.5)" or "[...]" cannot survive.
_KEPT_PUNCTUATION = frozenset("-'&.,/")
_SPACES = re.compile(r"\s+")


def clean_slot(value: object, max_chars: int) -> str:
    """NFC-normalise, strip control/zero-width/bidi characters, collapse spaces and cap length."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char.isspace():  # newlines and tabs are controls too, but they separate words
            kept.append(" ")
        elif category in _DROPPED_CATEGORIES:
            continue
        elif category[0] in "LMN" or char in _KEPT_PUNCTUATION:
            kept.append(char)
        else:
            kept.append(" ")
    cleaned = _SPACES.sub(" ", "".join(kept)).strip()
    if len(cleaned) > max_chars:
        cleaned = cleaned[:max_chars].rstrip()
    return cleaned
