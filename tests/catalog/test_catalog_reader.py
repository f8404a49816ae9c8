"""Streaming the catalog: batches, column projection, schema errors, filters, S3 and hostile files."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog.reader import CatalogFormatError, iter_catalog_batches, read_catalog
from catalog.sample import make_sample_catalog, write_sample_catalog
from catalog.schema import CATALOG_SCHEMA, READ_PROBLEMS_COLUMN, CatalogSchemaError
from catalog_concepts.storage.settings import arrow_filesystem, boto3_client


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


# --- hostile files: invalid UTF-8, not Parquet, missing ---------------------------------------


def _write_with_invalid_utf8(path, table, column, row, raw):
    """Write `table` with `raw` bytes as `column`[row], typed string but never checked for UTF-8."""
    values = [v.encode() if v is not None else None for v in table.column(column).to_pylist()]
    values[row] = raw
    binary = pa.array(values, pa.binary())
    # Reinterpreting binary buffers as string skips Arrow's UTF-8 check, as a foreign writer would.
    text = pa.Array.from_buffers(pa.string(), len(binary), binary.buffers(), null_count=binary.null_count)
    pq.write_table(table.set_column(table.schema.get_field_index(column), column, text), path, row_group_size=4)
    return path


def test_invalid_utf8_is_flagged_per_row_not_raised(tmp_path):
    table = make_sample_catalog(12, seed=3)
    path = _write_with_invalid_utf8(tmp_path / "bad.parquet", table, "title", 9, b"Oslo \xff Chair")
    # The file really is hostile: pyarrow reads it, and only converting the strings fails.
    with pytest.raises(pa.ArrowInvalid, match="Invalid UTF8"):
        pq.read_table(path).validate(full=True)

    read = read_catalog(str(path))
    assert read.column_names == CATALOG_SCHEMA.names + [READ_PROBLEMS_COLUMN]
    read.validate(full=True)  # every string is UTF-8 now
    problems = read.column(READ_PROBLEMS_COLUMN).to_pylist()
    assert problems == [None] * 9 + [["title is not valid UTF-8"]] + [None] * 2
    assert read.column("title")[9].as_py() == "Oslo \\xff Chair"  # the bytes stay visible, escaped
    assert read.drop_columns([READ_PROBLEMS_COLUMN]).slice(0, 9).equals(table.slice(0, 9))


def test_batches_flag_only_their_own_bad_rows(tmp_path):
    table = make_sample_catalog(12, seed=3)
    path = _write_with_invalid_utf8(tmp_path / "bad.parquet", table, "sku", 5, b"TBL-\xc3(")
    batches = list(iter_catalog_batches(str(path), ["sku", "color"], batch_rows=4))
    assert [READ_PROBLEMS_COLUMN in b.schema.names for b in batches] == [False, True, False]
    assert batches[1].column(READ_PROBLEMS_COLUMN).to_pylist() == [None, ["sku is not valid UTF-8"], None, None]


def test_clean_rows_of_a_hostile_file_drop_the_problem_column(tmp_path):
    table = make_sample_catalog(12, seed=3)
    path = _write_with_invalid_utf8(tmp_path / "bad.parquet", table, "title", 9, b"\xff")
    assert read_catalog(str(path), limit=8).equals(table.slice(0, 8))
    assert read_catalog(str(path), skus=[table.column("sku")[10].as_py()]).schema.equals(CATALOG_SCHEMA)


def test_sku_filter_matches_after_nfc(tmp_path):
    table = make_sample_catalog(3, seed=1)
    skus = ["CAF\u00c9-1", "CAFE\u0301-2", "TBL-3"]
    path = tmp_path / "accents.parquet"
    pq.write_table(table.set_column(0, "sku", pa.array(skus)), path)
    assert read_catalog(str(path), skus=["CAFE\u0301-1"]).column("sku").to_pylist() == ["CAF\u00c9-1"]
    assert read_catalog(str(path), skus=["CAF\u00c9-2"]).column("sku").to_pylist() == ["CAFE\u0301-2"]


def test_category_filter_matches_vocabulary_synonyms(tmp_path):
    table = make_sample_catalog(3, seed=1)
    path = tmp_path / "plural.parquet"
    pq.write_table(table.set_column(2, "category", pa.array([" Lamps", "couch", "rocket"])), path)
    assert read_catalog(str(path), categories=["lamp"]).column("category").to_pylist() == [" Lamps"]
    assert read_catalog(str(path), categories=["sofa", "lamp"]).num_rows == 2


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty (0 bytes); write the catalog as Parquet"),
        (b"sku,title,category\nTBL-1,Oslo Table,table\n",
         "is not a Parquet file (it starts like CSV text); write it as Parquet, e.g. `pandas.read_csv(path)"),
        (b'[{"sku": "TBL-1"}]', "it starts like JSON text); write it as Parquet, e.g. `pandas.read_json(path)"),
        (b"PK\x03\x04\x14\x00", "it starts like a ZIP archive, e.g. an Excel workbook); write it as Parquet, e.g. "
                                "`pandas.read_excel(path)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "it starts like binary data); write it as Parquet, with the columns"),
        (b"PAR1\x15\x04", "starts like Parquet but its footer is missing or corrupt"),
    ],
)
def test_files_that_are_not_parquet_get_one_sentence(tmp_path, content, message):
    path = tmp_path / "catalog.parquet"
    path.write_bytes(content)
    with pytest.raises(CatalogFormatError) as error:
        read_catalog(str(path))
    assert message in str(error.value) and str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_and_directory_get_one_sentence(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"catalog .*nope.parquet does not exist; pass the path"):
        read_catalog(str(tmp_path / "nope.parquet"))
    with pytest.raises(CatalogFormatError, match="is a directory; pass one Parquet file"):
        read_catalog(str(tmp_path))


def test_s3_missing_and_csv_objects_get_one_sentence(s3):
    client = boto3_client(s3)
    client.put_object(Bucket=s3.bucket, Key="catalogs/c.csv", Body=b"sku,title\nA,B\n")
    filesystem = arrow_filesystem(s3)
    with pytest.raises(FileNotFoundError, match=f"catalog s3://{s3.bucket}/catalogs/nope.parquet does not exist"):
        read_catalog(f"s3://{s3.bucket}/catalogs/nope.parquet", filesystem=filesystem)
    with pytest.raises(CatalogFormatError, match="starts like CSV text"):
        read_catalog(f"s3://{s3.bucket}/catalogs/c.csv", filesystem=filesystem)
