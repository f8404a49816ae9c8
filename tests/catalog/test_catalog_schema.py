"""The catalog schema: documentation coverage, type checks and the stable row hash."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from catalog.schema import (
    CATALOG_SCHEMA,
    COLUMN_DOCS,
    REQUIRED_COLUMNS,
    TEXT_LIMITS,
    CatalogSchemaError,
    catalog_row_hash,
    check_catalog_schema,
    conform_to_schema,
)

ROW = {
    "sku": "TBL-0000001",
    "title": "Oslo Oak Dining Table",
    "category": "table",
    "color": "teal",
    "material": "wood",
    "brand": "Nordvik",
    "description": None,
    "asset_type": "lifestyle_scene",
    "claims_real_sku": False,
    "has_logo": True,
    "locale": "en-US",
    "updated_at": datetime(2025, 6, 1, 12, 30, 0, 123456, tzinfo=UTC),
}
# Pinned: a change here changes every provenance manifest, so it must be deliberate.
ROW_HASH = "0aab60e00d6d4c45e84470e9025c5d558b69040451acf7a04f17a32f061d8626"


def test_every_column_is_documented_with_its_type():
    assert list(COLUMN_DOCS) == CATALOG_SCHEMA.names == list(REQUIRED_COLUMNS)
    for name, doc in COLUMN_DOCS.items():
        assert doc.split(",")[0] in ("string", "bool", "timestamp[us"), name
    assert set(TEXT_LIMITS) <= set(CATALOG_SCHEMA.names)
    assert TEXT_LIMITS["sku"] == 64 and TEXT_LIMITS["title"] == 200 and TEXT_LIMITS["description"] == 2000


def test_row_hash_is_pinned_and_ignores_extra_keys():
    assert catalog_row_hash(ROW) == ROW_HASH
    assert catalog_row_hash({**ROW, "reasons": ["x"], "row_index": 3}) == ROW_HASH


def test_row_hash_is_the_same_for_the_same_instant_in_another_zone():
    cet = timezone(timedelta(hours=1))
    assert catalog_row_hash({**ROW, "updated_at": ROW["updated_at"].astimezone(cet)}) == ROW_HASH


@pytest.mark.parametrize(
    "change",
    [{"sku": "TBL-0000002"}, {"description": ""}, {"has_logo": False}, {"brand": None},
     {"updated_at": ROW["updated_at"] + timedelta(microseconds=1)}],
)
def test_row_hash_changes_with_any_schema_value(change):
    assert catalog_row_hash({**ROW, **change}) != ROW_HASH


@pytest.mark.parametrize(
    "row, message",
    [
        ({k: v for k, v in ROW.items() if k != "locale"}, "lacks schema column(s) ['locale']"),
        ({**ROW, "updated_at": datetime(2025, 6, 1)}, "naive datetime"),
        ({**ROW, "has_logo": 1}, "holds a int"),
    ],
)
def test_row_hash_refuses_rows_it_cannot_hash_stably(row, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        catalog_row_hash(row)


@pytest.mark.parametrize(
    "field, accepted",
    [
        (pa.field("sku", pa.string()), True),
        (pa.field("sku", pa.large_string()), True),
        (pa.field("sku", pa.int64()), False),
        (pa.field("updated_at", pa.timestamp("ns", tz="UTC")), True),
        (pa.field("updated_at", pa.timestamp("us")), False),
        (pa.field("updated_at", pa.timestamp("us", tz="Europe/Oslo")), False),
        (pa.field("has_logo", pa.bool_()), True),
        (pa.field("has_logo", pa.string()), False),
    ],
)
def test_check_catalog_schema_types(field, accepted):
    schema = pa.schema([field])
    if accepted:
        check_catalog_schema(schema, [field.name])
    else:
        with pytest.raises(CatalogSchemaError, match=re.escape(f"{field.name}: found {field.type}, expected")):
            check_catalog_schema(schema, [field.name])


def test_check_catalog_schema_names_missing_and_found_columns():
    schema = pa.schema([pa.field("sku", pa.string()), pa.field("extra", pa.int8())])
    with pytest.raises(CatalogSchemaError) as error:
        check_catalog_schema(schema)
    assert "'title'" in str(error.value) and "found columns ['sku', 'extra']" in str(error.value)


def test_conform_casts_to_exact_types_and_keeps_other_columns():
    table = pa.table({"sku": pa.array(["a"], pa.large_string()), "note": [1]})
    conformed = conform_to_schema(table)
    assert conformed.schema.field("sku").type == pa.string()
    assert conformed.column_names == ["sku", "note"]
