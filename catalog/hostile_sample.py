"""A sample catalog with one row of every hostile kind, to prove each is quarantined, not fatal.

`write_hostile_catalog` writes `n` good sample rows (row 0's sku holds an "É") followed by
one row of each kind in `HOSTILE_ROW_KINDS`, which maps the kind to its exact quarantine
reason. Some hostile text cannot be made with ordinary Arrow strings (invalid UTF-8), so
this writes the Parquet file itself.
"""

import unicodedata
from os import PathLike
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from catalog.canonical import vocabulary_reason
from catalog.sample import make_sample_catalog
from catalog.schema import CATALOG_SCHEMA

# Row 0's sku: NFC "É" (U+00C9); its twin spells it E + U+0301.
ACCENTED_SKU = "CAF\u00c9-0000000"
_INVALID_UTF8_TITLE = b"Oslo \xff\xfe Chair"

# Hostile kind -> (column, value) of its one fault; bytes are written as they are.
_FAULTS: dict[str, tuple[str, object]] = {
    "nfd_twin_sku": ("sku", unicodedata.normalize("NFD", ACCENTED_SKU)),
    "bidi_sku": ("sku", "BAD-\u202egnp.exe"),
    "nul_sku": ("sku", "BAD-\x00-nul"),
    "zero_width_title": ("title", "Oslo\u200b Chair"),
    "newline_title": ("title", "Oslo\nChair"),
    "escape_brand": ("brand", "Nordvik\x1b[31m"),
    "private_use_description": ("description", "A chair \ue000 for every room."),
    "free_text_color": ("color", "red (logo:1.9) [nsfw]"),
    "unknown_material": ("material", "glass"),
    "invalid_utf8_title": ("title", _INVALID_UTF8_TITLE),
}

# Hostile kind -> the one quarantine reason catalog.validate gives it.
HOSTILE_ROW_KINDS: dict[str, str] = {
    "nfd_twin_sku": "sku is the same SKU as row 0 after Unicode NFC normalisation (the first occurrence is kept)",
    "bidi_sku": "sku contains a bidi control character U+202E",
    "nul_sku": "sku contains a NUL character U+0000",
    "zero_width_title": "title contains an invisible format character U+200B",
    "newline_title": "title contains a control character U+000A",
    "escape_brand": "brand contains a control character U+001B",
    "private_use_description": "description contains a private-use character U+E000",
    "free_text_color": vocabulary_reason("color"),
    "unknown_material": vocabulary_reason("material"),
    "invalid_utf8_title": "title is not valid UTF-8",
}


def _string_column(values: list[object]) -> pa.Array:
    """A string-typed column holding `values` as they are; bytes are not checked for UTF-8."""
    raw = pa.array([v.encode("utf-8") if isinstance(v, str) else v for v in values], type=pa.binary())
    # Reinterpreting binary as string skips Arrow's UTF-8 check, exactly like a foreign Parquet writer.
    return pa.Array.from_buffers(pa.string(), len(raw), raw.buffers(), null_count=raw.null_count)


def make_hostile_rows(n: int = 20, seed: int = 0) -> list[dict[str, object]]:
    """`n` good rows then one row per hostile kind, as Python rows (invalid UTF-8 as bytes)."""
    if n < 1:
        raise ValueError(f"n must be >= 1 (row 0 is the twin's original); got {n}")
    rows = make_sample_catalog(n + len(_FAULTS), seed=seed).to_pylist()
    rows[0]["sku"] = ACCENTED_SKU
    for offset, (column, value) in enumerate(_FAULTS.values()):
        row = rows[n + offset]
        row["sku"] = f"HOSTILE-{offset:02d}"
        row[column] = value
    return rows


def write_hostile_catalog(path: str | PathLike[str], n: int = 20, seed: int = 0) -> Path:
    """Write make_hostile_rows(n, seed) as Parquet; rows n.. are the kinds of HOSTILE_ROW_KINDS in order."""
    rows = make_hostile_rows(n, seed)
    columns = []
    for field in CATALOG_SCHEMA:
        values = [row[field.name] for row in rows]
        columns.append(_string_column(values) if field.type == pa.string() else pa.array(values, type=field.type))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_arrays(columns, schema=CATALOG_SCHEMA), path)
    return path
