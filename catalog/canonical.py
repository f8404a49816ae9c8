"""The canonical form a good catalog row carries: its NFC sku and the vocabulary word of each slot.

Validation checks uniqueness and lengths on this form and hands it on, so the prompt, the
policy inputs, the row hash and the object keys all see one spelling of a product
("cafe" + U+0301 and "café" are one SKU; " Navy " is the colour "blue").
"""

import pyarrow as pa
import pyarrow.compute as pc

from catalog.vocabulary import OPTIONAL_SLOTS, SLOT_WORDS, allowed_words, canonical_word


def canonical_slot_value(slot: str, value: object) -> object:
    """The vocabulary word for `value`; an empty optional slot becomes ''; anything else stays as it was."""
    if slot in OPTIONAL_SLOTS and isinstance(value, str) and not value.strip():
        return ""
    word = canonical_word(slot, value)
    return value if word is None else word


def canonicalise(table: pa.Table) -> pa.Table:
    """`table` with NFC-normalised skus and vocabulary words in the slot columns (unknown values untouched)."""
    table = table.set_column(
        table.schema.get_field_index("sku"), "sku", pc.utf8_normalize(table.column("sku"), form="NFC")
    )
    for slot in SLOT_WORDS:
        index = table.schema.get_field_index(slot)
        values = [canonical_slot_value(slot, value) for value in table.column(slot).to_pylist()]
        table = table.set_column(index, slot, pa.array(values, type=pa.string()))
    return table


def vocabulary_reason(slot: str) -> str:
    """The quarantine reason for a slot value outside the vocabulary, listing what is allowed."""
    empty = "empty, or " if slot in OPTIONAL_SLOTS else ""
    return f"{slot} is not in the prompt vocabulary; allowed: {empty}{allowed_words(slot)}"


def vocabulary_reasons(table: pa.Table) -> dict[str, list[int]]:
    """Reason -> row positions whose slot value is set but names no vocabulary word."""
    failures: dict[str, list[int]] = {}
    for slot in SLOT_WORDS:
        # Null and '' are left to the not-null and length rules, so each fault has one reason.
        bad = [
            index
            for index, value in enumerate(table.column(slot).to_pylist())
            if value not in (None, "") and canonical_slot_value(slot, value) not in SLOT_WORDS[slot] + ("",)
        ]
        if bad:
            failures[vocabulary_reason(slot)] = bad
    return failures
