"""The seeded sample catalog: determinism, vocabulary, bad-row kinds and the packaged file."""

from collections import Counter

import pyarrow.parquet as pq
import pytest

from catalog.sample import (
    BAD_ROW_KINDS,
    SAMPLE_CATALOG_PATH,
    SAMPLE_GOOD_ROWS,
    SAMPLE_SEED,
    make_sample_catalog,
    write_sample_catalog,
)
from catalog.schema import CATALOG_SCHEMA, TEXT_LIMITS, catalog_row_hash
from catalog.vocabulary import ASSET_TYPES, CATEGORIES, COLORS, LOCALES, MATERIALS_BY_CATEGORY


@pytest.fixture(scope="module")
def sample():
    return make_sample_catalog(2000, seed=7)


def test_same_seed_same_table_other_seed_other_table(sample):
    assert make_sample_catalog(2000, seed=7).equals(sample)
    assert not make_sample_catalog(2000, seed=8).equals(sample)
    assert make_sample_catalog(20, seed=7).equals(sample.slice(0, 20))


def test_good_rows_stay_inside_the_vocabulary_and_limits(sample):
    assert sample.schema.equals(CATALOG_SCHEMA)
    rows = sample.to_pylist()
    assert len({row["sku"] for row in rows}) == len(rows)
    for row in rows:
        assert row["category"] in CATEGORIES and row["color"] in COLORS and row["locale"] in LOCALES
        assert row["material"] in MATERIALS_BY_CATEGORY[row["category"]]
        assert row["asset_type"] in ASSET_TYPES
        assert row["claims_real_sku"] is not None and row["has_logo"] is not None
        for name, limit in TEXT_LIMITS.items():
            assert row[name] is None or 0 < len(row[name]) <= limit, (name, row[name])
    assert set(sample.column("asset_type").to_pylist()) == set(ASSET_TYPES)
    assert set(sample.column("category").to_pylist()) == set(CATEGORIES)


def test_flag_fractions_are_realistic(sample):
    claims = sum(sample.column("claims_real_sku").to_pylist()) / sample.num_rows
    logos = sum(sample.column("has_logo").to_pylist()) / sample.num_rows
    assert 0.07 < claims < 0.13 and 0.03 < logos < 0.07


def test_bad_rows_follow_the_good_ones_cycling_through_the_kinds():
    table = make_sample_catalog(30, seed=1, bad_rows=len(BAD_ROW_KINDS) + 2)
    assert table.num_rows == 30 + len(BAD_ROW_KINDS) + 2
    assert table.slice(0, 30).equals(make_sample_catalog(30, seed=1))
    bad = table.slice(30).to_pylist()
    kinds = list(BAD_ROW_KINDS) + list(BAD_ROW_KINDS)[:2]
    by_kind = dict(zip(kinds, bad, strict=True))  # the first row of each kind
    assert by_kind["null_sku"]["sku"] is None
    assert by_kind["duplicate_sku"]["sku"] in table.slice(0, 30).column("sku").to_pylist()
    assert by_kind["unknown_category"]["category"] not in CATEGORIES
    assert len(by_kind["title_too_long"]["title"]) == TEXT_LIMITS["title"] + 1
    assert by_kind["empty_color"]["color"] == ""
    assert bad[len(BAD_ROW_KINDS)]["sku"] is None  # the cycle restarts with null_sku


@pytest.mark.parametrize("kwargs", [{"n": -1}, {"bad_rows": -1}, {"n": 0, "bad_rows": 1}])
def test_refuses_impossible_sizes(kwargs):
    with pytest.raises(ValueError):
        make_sample_catalog(**{"n": 5, **kwargs})


def test_write_uses_the_requested_row_groups(tmp_path):
    path = write_sample_catalog(tmp_path / "c.parquet", n=100, seed=3, row_group_size=25)
    assert pq.ParquetFile(path).num_row_groups == 4
    assert pq.read_table(path).equals(make_sample_catalog(100, seed=3))


def test_packaged_sample_is_small_and_regenerable():
    assert SAMPLE_CATALOG_PATH.stat().st_size < 50_000
    packaged = pq.read_table(SAMPLE_CATALOG_PATH)
    expected = make_sample_catalog(SAMPLE_GOOD_ROWS, SAMPLE_SEED, len(BAD_ROW_KINDS))
    assert packaged.equals(expected)
    hashes = [catalog_row_hash(row) for row in packaged.to_pylist()]
    assert Counter(hashes).most_common(1)[0][1] == 1
