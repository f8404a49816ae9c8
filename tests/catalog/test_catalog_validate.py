"""Catalog validation: each bad-row kind gets its reason, good rows pass, thresholds reject loudly."""

import re
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.canonical import vocabulary_reason
from catalog.hostile_sample import ACCENTED_SKU, HOSTILE_ROW_KINDS, write_hostile_catalog
from catalog.reader import read_catalog
from catalog.sample import BAD_ROW_KINDS, SAMPLE_CATALOG_PATH, SAMPLE_GOOD_ROWS, make_sample_catalog
from catalog.schema import READ_PROBLEMS_COLUMN, CatalogSchemaError
from catalog.text_safety import unsafe_character_reason
from catalog.validate import CatalogRejectedError, NoUsableRowsError, ValidationResult, validate_catalog

GOOD = 200
KINDS = list(BAD_ROW_KINDS)
# One row breaking three rules at once: unknown category, empty title, null has_logo.
MULTI_FAULT = {
    "sku": "BAD-multi", "title": "", "category": "rocket", "color": "red", "material": "metal",
    "brand": None, "description": None, "asset_type": "lifestyle_scene", "claims_real_sku": False,
    "has_logo": None, "locale": "en-US", "updated_at": datetime(2025, 1, 1, tzinfo=UTC),
}
MULTI_FAULT_REASONS = [
    "expect_column_values_to_not_be_null(has_logo)",
    "expect_column_value_lengths_to_be_between(title)",
    vocabulary_reason("category"),
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


def test_empty_catalog_fails_with_one_sentence():
    with pytest.raises(NoUsableRowsError) as error:
        validate_catalog(make_sample_catalog(0), max_bad_fraction=1.0)
    assert str(error.value) == (
        "catalog has no rows to make images from (0 rows read after the limit/skus/categories filters): "
        "check the catalog file and those filters."
    )
    assert isinstance(error.value, CatalogRejectedError)  # the flow's handler still writes the quarantine
    assert (error.value.result.checked, error.value.result.quarantined.num_rows) == (0, 0)


def test_all_rows_quarantined_fails_even_when_every_row_may_be_bad():
    table = make_sample_catalog(3, seed=1)
    table = table.set_column(3, "color", pa.array(["black", "white", "grey"]))
    with pytest.raises(NoUsableRowsError) as error:
        validate_catalog(table, max_bad_fraction=1.0)
    message = str(error.value)
    assert message.startswith("catalog has no usable rows: all 3 rows failed validation (top reasons: color is not")
    assert message.endswith("fix them using each row's reasons in the quarantine, then rerun.")
    assert "\n" not in message and len(message) < 300
    assert error.value.result.quarantined.num_rows == 3


# --- hostile catalogs: each fault is one row's quarantine reason, never the run's end -----------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The hostile sample catalog read from Parquet (as the flow reads it), and its validation."""
    path = write_hostile_catalog(tmp_path_factory.mktemp("hostile") / "hostile.parquet", n=20, seed=3)
    table = read_catalog(str(path))
    return table, validate_catalog(table, max_bad_fraction=1.0)


@pytest.mark.parametrize("kind", list(HOSTILE_ROW_KINDS))
def test_each_hostile_kind_is_quarantined_with_its_reason(hostile, kind):
    table, result = hostile
    rows = {row["row_index"]: row for row in result.quarantined.to_pylist()}
    index = 20 + list(HOSTILE_ROW_KINDS).index(kind)
    assert rows[index]["reasons"] == [HOSTILE_ROW_KINDS[kind]]


def test_hostile_catalog_keeps_every_good_row_and_only_clean_text(hostile):
    table, result = hostile
    assert result.good.num_rows == 20 and result.quarantined.num_rows == len(HOSTILE_ROW_KINDS)
    assert READ_PROBLEMS_COLUMN not in result.good.column_names + result.quarantined.column_names
    assert result.good.column("sku")[0].as_py() == ACCENTED_SKU
    for row in result.good.to_pylist():
        assert not any(unsafe_character_reason(name, value) for name, value in row.items()), row
    result.quarantined.validate(full=True)  # the quarantine can be written and read back as UTF-8


def test_nfc_twin_is_quarantined_and_good_rows_carry_nfc_skus():
    table = make_sample_catalog(4, seed=1)
    skus = ["cafe\u0301", "caf\u00e9", "TBL-2", "caf\u00e9"]
    result = validate_catalog(table.set_column(0, "sku", pa.array(skus)), max_bad_fraction=1.0)
    assert result.good.column("sku").to_pylist() == ["caf\u00e9", "TBL-2"]  # the first spelling, in NFC
    reasons = dict(zip(result.quarantined.column("row_index").to_pylist(),
                       result.quarantined.column("reasons").to_pylist(), strict=True))
    assert reasons == {
        1: ["sku is the same SKU as row 0 after Unicode NFC normalisation (the first occurrence is kept)"],
        3: ["sku is the same SKU as row 0 after Unicode NFC normalisation (the first occurrence is kept)"],
    }
    assert result.quarantined.column("sku").to_pylist() == ["caf\u00e9", "caf\u00e9"]  # as read


def test_exact_copy_of_an_nfc_twin_is_an_ordinary_duplicate():
    table = make_sample_catalog(3, seed=1)
    result = validate_catalog(table.set_column(0, "sku", pa.array(["caf\u00e9"] * 3)), max_bad_fraction=1.0)
    assert result.quarantined.column("reasons").to_pylist() == [["expect_column_values_to_be_unique(sku)"]] * 2


def test_slot_synonyms_pass_as_their_vocabulary_word():
    table = make_sample_catalog(4, seed=1)
    table = table.set_column(2, "category", pa.array(["Lamps", "couch", " MUG ", "table"]))
    table = table.set_column(3, "color", pa.array([" Navy ", "Crimson", "turquoise", "LILAC"]))
    table = table.set_column(4, "material", pa.array(["Walnut", "stainless steel", "  ", "porcelain"]))
    result = validate_catalog(table, max_bad_fraction=0.0)
    good = result.good.to_pylist()
    assert [(r["category"], r["color"], r["material"]) for r in good] == [
        ("lamp", "blue", "wood"), ("sofa", "red", "metal"), ("mug", "teal", ""), ("table", "purple", "ceramic"),
    ]


def test_newlines_are_fine_in_descriptions_only():
    table = make_sample_catalog(2, seed=1)
    table = table.set_column(6, "description", pa.array(["Line one.\r\n\tLine two.", None]))
    table = table.set_column(1, "title", pa.array(["Oslo Chair", "Oslo\tChair"]))
    result = validate_catalog(table, max_bad_fraction=1.0)
    assert result.good.column("description").to_pylist() == ["Line one.\r\n\tLine two."]
    assert result.quarantined.column("reasons").to_pylist() == [["title contains a control character U+0009"]]


def test_a_user_column_cannot_pose_as_read_problems():
    table = make_sample_catalog(2).append_column(READ_PROBLEMS_COLUMN, pa.array(["x", "y"]))
    with pytest.raises(ValueError, match="is reserved for catalog.reader"):
        validate_catalog(table)


def test_a_table_with_unchecked_bytes_is_refused_not_crashed():
    table = make_sample_catalog(2)
    raw = pa.array([b"Oslo \xff", b"Oslo"], pa.binary())
    table = table.set_column(1, "title", pa.Array.from_buffers(pa.string(), 2, raw.buffers()))
    with pytest.raises(ValueError, match="not UTF-8.*read it with catalog.reader.read_catalog"):
        validate_catalog(table)
