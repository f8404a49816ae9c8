"""Streaming the catalog: batches, column projection, schema errors, filters and S3."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.reader import iter_catalog_batches, read_catalog
from catalog.sample import make_sample_catalog, write_sample_catalog
from catalog.schema import CATALOG_SCHEMA, CatalogSchemaError
from storage.settings import arrow_filesystem, boto3_client


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("catalog") / "catalog.parquet"
    return write_sample_catalog(path, n=1000, seed=5, row_group_size=100)


def test_small_row_groups_stream_as_several_batches(catalog_file):
    batches = list(iter_catalog_batches(str(catalog_file), batch_rows=100))
    assert pq.ParquetFile(catalog_file).num_row_groups == 10
    assert [b.num_rows for b in batches] == [100] * 10
    assert pa.Table.from_batches(batches).equals(make_sample_catalog(1000, seed=5))


def test_only_requested_columns_are_read(catalog_file):
    batches = list(iter_catalog_batches(str(catalog_file), ["sku", "category"], batch_rows=256))
    assert all(b.schema.names == ["sku", "category"] for b in batches)
    assert sum(b.num_rows for b in batches) == 1000


def test_missing_column_names_missing_and_found(tmp_path):
    path = tmp_path / "thin.parquet"
    pq.write_table(make_sample_catalog(10).drop_columns(["locale", "has_logo"]), path)
    with pytest.raises(CatalogSchemaError) as error:
        next(iter_catalog_batches(str(path)))
    message = str(error.value)
    assert "missing required column(s) ['has_logo', 'locale']" in message
    assert "found columns ['sku', 'title'" in message


def test_wrong_type_is_refused_before_any_batch(tmp_path):
    path = tmp_path / "typed.parquet"
    table = make_sample_catalog(10)
    index = table.schema.get_field_index("has_logo")
    pq.write_table(table.set_column(index, "has_logo", pa.array(["yes"] * 10)), path)
    with pytest.raises(CatalogSchemaError, match="has_logo: found string, expected bool"):
        next(iter_catalog_batches(str(path)))


def test_large_strings_come_back_as_schema_strings(tmp_path):
    path = tmp_path / "large.parquet"
    table = make_sample_catalog(10)
    pq.write_table(table.cast(pa.schema([pa.field(f.name, pa.large_string()) if f.type == pa.string() else f
                                         for f in table.schema])), path)
    assert read_catalog(str(path)).equals(table)


@pytest.mark.parametrize(
    "uri, message",
    [("http://host/c.parquet", "unsupported catalog uri"), ("s3://bucket-only", "needs a bucket and a key"),
     ("s3://bucket/c.parquet", "needs a pyarrow filesystem"), ("", "local path or 's3://bucket/key'")],
)
def test_bad_uris_are_refused(uri, message):
    with pytest.raises(ValueError, match=message):
        next(iter_catalog_batches(uri))


def test_read_catalog_filters_then_limits(catalog_file):
    full = make_sample_catalog(1000, seed=5)
    lamps = [row for row in full.to_pylist() if row["category"] in ("lamp", "mug")]
    assert read_catalog(str(catalog_file), categories=["lamp", "mug"]).to_pylist() == lamps
    assert read_catalog(str(catalog_file), categories=["lamp", "mug"], limit=150).to_pylist() == lamps[:150]
    other = next(row["sku"] for row in full.to_pylist() if row["category"] == "sofa")
    picked = read_catalog(str(catalog_file), skus=[lamps[3]["sku"], other, "NOT-THERE"], categories=["lamp", "mug"])
    assert picked.column("sku").to_pylist() == [lamps[3]["sku"]]  # both filters apply
    assert read_catalog(str(catalog_file), skus=[other, "NOT-THERE"]).column("sku").to_pylist() == [other]
    assert read_catalog(str(catalog_file), limit=250).equals(full.slice(0, 250))


def test_read_catalog_empty_result_keeps_the_schema(catalog_file):
    empty = read_catalog(str(catalog_file), skus=["NOT-THERE"])
    assert empty.num_rows == 0 and empty.schema.equals(CATALOG_SCHEMA)
    assert read_catalog(str(catalog_file), limit=0).num_rows == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [({"limit": -1}, "limit must be"), ({"limit": 1.5}, "limit must be"),
     ({"skus": "TBL-0000001"}, "skus must be a collection"),
     ({"categories": ["lamp", "rocket"]}, r"unknown categories \['rocket'\]; allowed: table")],
)
def test_read_catalog_refuses_bad_arguments(catalog_file, kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_catalog(str(catalog_file), **kwargs)


def test_s3_round_trip(s3, catalog_file):
    boto3_client(s3).upload_file(str(catalog_file), s3.bucket, "catalogs/sample.parquet")
    uri = f"s3://{s3.bucket}/catalogs/sample.parquet"
    filesystem = arrow_filesystem(s3)
    batches = list(iter_catalog_batches(uri, ["sku", "asset_type"], filesystem=filesystem, batch_rows=100))
    assert len(batches) == 10 and batches[0].schema.names == ["sku", "asset_type"]
    full = make_sample_catalog(1000, seed=5)
    assert read_catalog(uri, filesystem=filesystem).equals(full)
    assert read_catalog(uri, filesystem=filesystem, categories=["bag"], limit=5).num_rows == 5
