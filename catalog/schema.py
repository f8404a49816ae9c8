"""The documented catalog schema, its text limits and a stable per-row hash.

Every column is stored nullable in Arrow/Parquet so that a bad row can still be
read and quarantined; "non-null" below is enforced by `catalog.validate`.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pyarrow as pa


class CatalogSchemaError(ValueError):
    """The catalog's columns or column types do not match `CATALOG_SCHEMA`."""


CATALOG_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("sku", pa.string()),
        pa.field("title", pa.string()),
        pa.field("category", pa.string()),
        pa.field("color", pa.string()),
        pa.field("material", pa.string()),
        pa.field("brand", pa.string()),
        pa.field("description", pa.string()),
        pa.field("asset_type", pa.string()),
        pa.field("claims_real_sku", pa.bool_()),
        pa.field("has_logo", pa.bool_()),
        pa.field("locale", pa.string()),
        pa.field("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)

# Every schema column must be present in a catalog file; brand and description may hold nulls.
REQUIRED_COLUMNS: tuple[str, ...] = tuple(CATALOG_SCHEMA.names)
NULLABLE_COLUMNS: tuple[str, ...] = ("brand", "description")

# Reader-added column (list<string>, null when fine): why a row's raw text could not be read,
# e.g. "title is not valid UTF-8". The dunder name keeps it apart from any catalog column;
# catalog.validate turns it into quarantine reasons and drops it.
READ_PROBLEMS_COLUMN = "__catalog_read_problems__"

# Longest text (in characters) a column may hold.
TEXT_LIMITS: dict[str, int] = {
    "sku": 64,
    "title": 200,
    "category": 24,
    "color": 24,
    "material": 24,
    "brand": 80,
    "description": 2000,
    "locale": 16,
}

COLUMN_DOCS: dict[str, str] = {
    "sku": "string, non-null, unique, 1-64 characters: the retailer's stock-keeping unit.",
    "title": "string, non-null, 1-200 characters: the product name shown to shoppers.",
    "category": "string, non-null, one of catalog.vocabulary.CATEGORIES or a listed synonym (at most 24 characters).",
    "color": "string, non-null, 1-24 characters: one of catalog.vocabulary.COLORS or a listed synonym (navy -> blue).",
    "material": "string, non-null, at most 24 characters: empty, or one of catalog.vocabulary.MATERIALS or a listed "
    "synonym (oak -> wood).",
    "brand": "string, nullable, at most 80 characters: the brand name (never sent to the model).",
    "description": "string, nullable, at most 2000 characters: free marketing text (never sent to the model).",
    "asset_type": "string, non-null, one of catalog.vocabulary.ASSET_TYPES: which concept image to make.",
    "claims_real_sku": "bool, non-null: true when the image would be presented as the real product.",
    "has_logo": "bool, non-null: true when the real product carries a brand logo.",
    "locale": "string, non-null, one of catalog.vocabulary.LOCALES such as 'en-US' (at most 16 characters).",
    "updated_at": "timestamp[us, tz=UTC], non-null: when the catalog row last changed.",
}

# Arrow types accepted for each schema type; all of them cast losslessly to the schema type.
_STRING_TYPES = (pa.string(), pa.large_string(), pa.string_view())


def _type_is_accepted(found: pa.DataType, expected: pa.DataType) -> bool:
    """True when `found` can stand for `expected` (string flavours, any UTC timestamp unit)."""
    if found == expected:
        return True
    if expected == pa.string():
        return found in _STRING_TYPES
    if pa.types.is_timestamp(expected):
        return pa.types.is_timestamp(found) and found.tz in ("UTC", "+00:00", "Etc/UTC")
    return False


def check_catalog_schema(schema: pa.Schema, columns: Sequence[str] = REQUIRED_COLUMNS) -> None:
    """Raise CatalogSchemaError if any of `columns` is missing from `schema` or has the wrong type."""
    found = list(schema.names)
    missing = [name for name in columns if name not in found]
    if missing:
        raise CatalogSchemaError(
            f"catalog is missing required column(s) {missing}; found columns {found}. "
            f"Add the missing columns (see catalog.schema.COLUMN_DOCS)."
        )
    wrong = [
        f"{name}: found {schema.field(name).type}, expected {CATALOG_SCHEMA.field(name).type}"
        for name in columns
        if name in CATALOG_SCHEMA.names
        and not _type_is_accepted(schema.field(name).type, CATALOG_SCHEMA.field(name).type)
    ]
    if wrong:
        raise CatalogSchemaError(
            f"catalog column(s) have the wrong Arrow type: {'; '.join(wrong)}. "
            f"Write these columns with the expected types (see catalog.schema.COLUMN_DOCS)."
        )


def conform_to_schema(table: pa.Table) -> pa.Table:
    """Check the schema columns and cast them to their exact `CATALOG_SCHEMA` types; keep other columns."""
    schema_columns = [name for name in table.column_names if name in CATALOG_SCHEMA.names]
    check_catalog_schema(table.schema, schema_columns)
    target = pa.schema(
        [CATALOG_SCHEMA.field(f.name) if f.name in CATALOG_SCHEMA.names else f for f in table.schema]
    )
    return table if table.schema.equals(target) else table.cast(target)


def _canonical_value(name: str, value: object) -> object:
    """A JSON-ready, run-independent form of one schema value."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"column {name!r} holds a naive datetime; catalog timestamps must be UTC-aware")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    raise ValueError(f"column {name!r} holds a {type(value).__name__}; expected str, bool, datetime or None")


def catalog_row_hash(row: Mapping[str, object]) -> str:
    """Sha256 hex of the canonical JSON of a row's schema columns (other keys are ignored)."""
    missing = [name for name in CATALOG_SCHEMA.names if name not in row]
    if missing:
        raise ValueError(f"row lacks schema column(s) {missing}; required: {list(CATALOG_SCHEMA.names)}")
    canonical = {name: _canonical_value(name, row[name]) for name in CATALOG_SCHEMA.names}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
