"""Catalog validation: each bad-row kind gets its reason, good rows pass, thresholds reject loudly."""

import re
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.sample import BAD_ROW_KINDS, SAMPLE_CATALOG_PATH, SAMPLE_GOOD_ROWS, make_sample_catalog
from catalog.schema import CatalogSchemaError
from catalog.validate import CatalogRejectedError, ValidationResult, validate_catalog

GOOD = 200
KINDS = list(BAD_ROW_KINDS)
# One row breaking three rules at once: unknown category, empty title, null has_logo.
MULTI_FAULT = {
    "sku": "BAD-multi", "title": "", "category": "rocket", "color": "red", "material": "metal",
    "brand": None, "description": None, "asset_type": "lifestyle_scene", "claims_real_sku": False,
    "has_logo": None, "locale": "en-US", "updated_at": datetime(2025, 1, 1, tzinfo=timezone.utc),
}
MULTI_FAULT_REASONS = [
    "expect_column_values_to_not_be_null(has_logo)",
    "expect_column_values_to_be_in_set(category)",
    "expect_column_value_lengths_to_be_between(title)",
]


@pytest.fixture(scope="module")
def catalog():
    """GOOD good rows, every bad kind twice, one multi-fault row, and an extra column."""
    table = make_sample_catalog(GOOD, seed=2, bad_rows=2 * len(KINDS))
    table = pa.concat_tables([table, pa.Table.from_pylist([MULTI_FAULT], schema=table.schema)])
    return table.append_column("note", pa.array([f"n{i}" for i in range(table.num_rows)]))


@pytest.fixture(scope="module")
def result(catalog):
    """The one expensive validation run this module shares (GE import takes seconds)."""
    return validate_catalog(catalog, max_bad_fraction=1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_each_bad_kind_is_quarantined_with_its_reason(result, kind):
    rows = {row["row_index"]: row for row in result.quarantined.to_pylist()}
    for repeat in range(2):
        index = GOOD + repeat * len(KINDS) + KINDS.index(kind)
        assert rows[index]["reasons"] == [BAD_ROW_KINDS[kind]], (kind, rows.get(index))


def test_good_rows_all_pass_and_keep_their_columns(result, catalog):
    assert result.checked == catalog.num_rows
    assert result.good.column_names == catalog.column_names
    assert result.good.equals(catalog.slice(0, GOOD))
    assert result.quarantined.column_names == catalog.column_names + ["reasons", "row_index"]
    assert result.quarantined.num_rows == 2 * len(KINDS) + 1
    assert result.bad_fraction == pytest.approx((2 * len(KINDS) + 1) / catalog.num_rows)


def test_quarantined_rows_are_the_original_rows(result, catalog):
    for row in result.quarantined.to_pylist():
        original = catalog.slice(row["row_index"], 1).to_pylist()[0]
        assert {k: v for k, v in row.items() if k not in ("reasons", "row_index")} == original


def test_duplicate_sku_keeps_the_first_occurrence(result, catalog):
    duplicate = catalog.column("sku")[GOOD + KINDS.index("duplicate_sku")].as_py()
    first = catalog.column("sku").to_pylist().index(duplicate)
    assert first < GOOD
    assert duplicate in result.good.column("sku").to_pylist()
    assert first not in result.quarantined.column("row_index").to_pylist()


def test_a_row_breaking_several_rules_lists_them_all(result, catalog):
    row = result.quarantined.to_pylist()[-1]
    assert row["row_index"] == catalog.num_rows - 1 and row["sku"] == "BAD-multi"
    assert row["reasons"] == MULTI_FAULT_REASONS


def test_packaged_sample_quarantines_every_kind_once():
    result = validate_catalog(pq.read_table(SAMPLE_CATALOG_PATH), max_bad_fraction=0.2)
    assert result.good.num_rows == SAMPLE_GOOD_ROWS
    assert result.quarantined.column("reasons").to_pylist() == [[v] for v in BAD_ROW_KINDS.values()]


def test_threshold_rejects_with_a_message_that_says_what_to_do():
    table = make_sample_catalog(95, seed=4, bad_rows=5)  # exactly 5% bad
    assert validate_catalog(table, max_bad_fraction=0.05).quarantined.num_rows == 5
    with pytest.raises(CatalogRejectedError) as error:
        validate_catalog(table, max_bad_fraction=0.04)
    message = str(error.value)
    assert "5 of 100 rows (5.00%)" in message and "max_bad_fraction=4.00%" in message
    assert "expect_column_values_to_not_be_null(sku) x1" in message
    assert "Fix those rows" in message and "raise max_bad_fraction" in message
    assert isinstance(error.value.result, ValidationResult) and error.value.result.good.num_rows == 95


def test_wrong_types_fail_before_great_expectations():
    table = make_sample_catalog(5)
    index = table.schema.get_field_index("claims_real_sku")
    table = table.set_column(index, "claims_real_sku", pa.array(["no"] * 5))
    with pytest.raises(CatalogSchemaError, match=re.escape("claims_real_sku: found string, expected bool")):
        validate_catalog(table)
    with pytest.raises(CatalogSchemaError, match=re.escape("missing required column(s) ['locale']")):
        validate_catalog(make_sample_catalog(5).drop_columns(["locale"]))


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), "0.1", None])
def test_threshold_must_be_a_fraction(threshold):
    with pytest.raises(ValueError, match="max_bad_fraction must be a number in"):
        validate_catalog(make_sample_catalog(5), max_bad_fraction=threshold)


def test_quarantine_columns_may_not_already_exist():
    with pytest.raises(ValueError, match="quarantine column"):
        validate_catalog(make_sample_catalog(5).append_column("reasons", pa.array(["x"] * 5)))


def test_empty_catalog_checks_nothing():
    result = validate_catalog(make_sample_catalog(0))
    assert (result.checked, result.bad_fraction, result.good.num_rows, result.quarantined.num_rows) == (0, 0.0, 0, 0)
