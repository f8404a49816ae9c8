"""The catalog content digest follows rows and values, never the file they came from."""

import datetime as dt

import pyarrow as pa

from catalog.content_digest import catalog_content_sha256

ROWS = [
    {"sku": "A-1", "color": "red", "updated_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC), "raw": b"\xff"},
    {"sku": "B-2", "color": "blue", "updated_at": dt.datetime(2026, 11, 2, tzinfo=dt.UTC), "raw": None},
]


def _digest(rows) -> str:
    return catalog_content_sha256(pa.Table.from_pylist(rows))


def test_same_rows_same_digest_whatever_the_batching():
    table = pa.Table.from_pylist(ROWS)
    rebatched = pa.Table.from_batches(table.to_batches(max_chunksize=1))
    assert catalog_content_sha256(rebatched) == catalog_content_sha256(table) == _digest(ROWS)


def test_any_changed_value_row_or_order_changes_the_digest():
    base = _digest(ROWS)
    assert _digest([{**ROWS[0], "color": "blue"}, ROWS[1]]) != base
    assert _digest([{**ROWS[0], "raw": b"\xfe"}, ROWS[1]]) != base  # unreadable bytes count too
    assert _digest([ROWS[1], ROWS[0]]) != base
    assert _digest(ROWS[:1]) != base
    assert _digest([]) != base


def test_column_names_are_part_of_the_content():
    renamed = [{("colour" if k == "color" else k): v for k, v in row.items()} for row in ROWS]
    assert _digest(renamed) != _digest(ROWS)
