"""Run manifest: pinned schema, validation table, commit-once and reads through real S3."""

from __future__ import annotations

import datetime as dt
import io
import math

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from catalog_concepts.provenance.manifest_row import Stored
from catalog_concepts.storage.keys import asset_id, manifest_key, quarantine_key
from catalog_concepts.storage.manifest import (
    FIELD_DOCS,
    MANIFEST_SCHEMA,
    AlreadyCommittedError,
    commit_manifest,
    manifest_exists,
    migrate_v1_manifest,
    read_manifest_file,
    read_manifests,
    rows_to_table,
    write_quarantine,
)
from catalog_concepts.storage.publish import put_if_absent
from catalog_concepts.storage.settings import S3Settings, arrow_filesystem, boto3_client

from example_rows import example_row

RUN_DATE = dt.date(2026, 11, 26)


def manifest_row(run_id: str = "run-1", sku: str = "SKU-1", variant: int = 0, **overrides) -> dict:
    """A valid manifest row (the worker's builder, via tests/example_rows.py) with a NaN score; overrides replace single columns."""
    stored = Stored(bucket="bucket", key=f"review/{variant}.png", sha256="d" * 64, bytes=1234, c2pa_manifest_label=None)
    run_date = overrides.pop("run_date", RUN_DATE)
    return example_row(run_id, sku, variant, run_date=run_date, stored=stored,
                       **{"decision": "review", "scores": {"category": 0.93, "color": float("nan")}, **overrides})


def run_table(run_id: str = "run-1", n: int = 3, **overrides) -> pa.Table:
    """A run's manifest with n rows; scores without NaN so Table.equals can compare."""
    overrides = {"scores": {"category": 0.93, "color": 0.8}, **overrides}
    return rows_to_table([manifest_row(run_id, f"SKU-{i}", i, **overrides) for i in range(n)])


def test_schema_is_pinned_and_fully_documented() -> None:
    assert MANIFEST_SCHEMA.names == list(FIELD_DOCS)
    assert all(FIELD_DOCS[name].strip() for name in MANIFEST_SCHEMA.names)
    assert MANIFEST_SCHEMA.metadata == {b"manifest_schema": b"2"}
    # v1 plus the nullable columns added since (catalog_concepts.storage.manifest.ADDED_COLUMNS).
    assert {f.name for f in MANIFEST_SCHEMA if f.nullable} == {
        "flow_run_id", "s3_uri", "sha256", "bytes", "phash", "c2pa_manifest_label", "category",
        "kept", "selection_rank", "selection_composite", "drop_reason", "policy_inputs",
        "request_sha256", "worker_host", "worker_pid", "guidance_interval",
    }
    assert MANIFEST_SCHEMA.field("scores").type == pa.map_(pa.string(), pa.float64())
    assert MANIFEST_SCHEMA.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert MANIFEST_SCHEMA.field("run_date").metadata == {b"doc": FIELD_DOCS["run_date"].encode()}


def test_rows_to_table_keeps_values() -> None:
    table = rows_to_table([manifest_row(), manifest_row(sku="SKU-2", variant=1)])
    assert table.schema.equals(MANIFEST_SCHEMA, check_metadata=True)
    first = table.to_pylist()[0]
    assert first["scores"][0] == ("category", 0.93)
    assert first["scores"][1][0] == "color" and math.isnan(first["scores"][1][1])  # NaN kept: it means "not scored"
    assert first["created_at"] == dt.datetime(2026, 11, 26, 2, 0, 0, tzinfo=dt.UTC)
    assert first["seed"] == 2**40


def test_non_utc_times_are_converted_not_shifted() -> None:
    plus_two = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    table = rows_to_table([manifest_row(created_at=plus_two)])
    assert table.column("created_at")[0].as_py() == dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("variant", 1.5, "needs an int"),  # pyarrow alone would store 1
        ("variant", True, "needs an int"),
        ("steps", 70000, "Value 70000 too large"),
        ("seed", "42", "needs an int"),
        ("guidance_scale", "7.5", "needs a real number"),
        ("created_at", dt.datetime(2026, 11, 26), "timezone-aware"),  # pyarrow alone would assume UTC
        ("run_date", "2026-11-26", "needs a datetime.date"),
        ("run_date", dt.datetime(2026, 11, 26), "needs a datetime.date"),
        ("scheduler_config", "not json", "JSON object"),
        ("scheduler_config", "[1, 2]", "JSON object"),
        ("sku", None, "is required"),
        ("scores", None, "is required"),
        ("scores", {"a": "high"}, "'scores'"),
        ("scores", [("a", 1.0)], "needs a dict"),
        ("rule_ids", "R1", "needs a list"),  # pyarrow alone would store ["R", "1"]
        ("rule_ids", [1], "'rule_ids'"),
        ("prompt", 3, "'prompt'"),
    ],
)
def test_bad_values_name_their_column(column: str, value, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        bad = manifest_row(sku="SKU-2")
        bad[column] = value
        rows_to_table([manifest_row(), bad])
    assert repr(column) in str(info.value)


@pytest.mark.parametrize("nullable", ["flow_run_id", "s3_uri", "sha256", "bytes", "phash"])
def test_nullable_columns_accept_none(nullable: str) -> None:
    assert rows_to_table([manifest_row(**{nullable: None})]).column(nullable).null_count == 1


def test_missing_and_unknown_columns_are_named() -> None:
    row = manifest_row()
    del row["phash"]
    row["phash_v2"] = "x"
    with pytest.raises(ValueError, match=r"missing columns \['phash'\], unknown columns \['phash_v2'\]"):
        rows_to_table([row])


def test_commit_round_trip_through_real_s3(s3: S3Settings) -> None:
    client = boto3_client(s3)
    table = run_table("run-1", n=3)
    key = manifest_key(RUN_DATE, "run-1")

    assert not manifest_exists(client, s3.bucket, key)
    assert commit_manifest(client, s3.bucket, key, table) is True
    assert manifest_exists(client, s3.bucket, key)

    body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    stored = pq.read_table(io.BytesIO(body))
    # v2: run_date lives only in the key's hive partition, so standard hive readers agree with the file.
    assert stored.schema.metadata[b"manifest_schema"] == b"2"
    assert stored.equals(table.drop_columns(["run_date"]))
    assert read_manifest_file(body, key).equals(table)

    read = read_manifests(s3)
    assert read.schema.equals(MANIFEST_SCHEMA, check_metadata=False)
    assert read.sort_by("variant").equals(table)


def test_second_commit_identical_is_false_different_raises(s3: S3Settings) -> None:
    client = boto3_client(s3)
    key = manifest_key(RUN_DATE, "run-1")
    assert commit_manifest(client, s3.bucket, key, run_table("run-1")) is True

    assert commit_manifest(client, s3.bucket, key, run_table("run-1")) is False
    with pytest.raises(AlreadyCommittedError, match="run_id 'run-1' is already committed"):
        commit_manifest(client, s3.bucket, key, run_table("run-1", decision="publish"))
    assert read_manifests(s3).column("decision").to_pylist() == ["review"] * 3


def test_empty_run_commits_under_a_well_formed_key(s3: S3Settings) -> None:
    client = boto3_client(s3)
    empty = rows_to_table([])
    assert commit_manifest(client, s3.bucket, manifest_key(RUN_DATE, "run-empty"), empty) is True
    with pytest.raises(ValueError, match="invalid manifest key"):
        commit_manifest(client, s3.bucket, "elsewhere/run-empty.parquet", empty)


@pytest.mark.parametrize(
    ("key", "table", "message"),
    [
        (manifest_key(RUN_DATE, "other-run"), lambda: run_table("run-1"), "does not match its rows"),
        (manifest_key("2026-01-01", "run-1"), lambda: run_table("run-1"), "does not match its rows"),
        (manifest_key(RUN_DATE, "run-1"),
         lambda: pa.concat_tables([run_table("run-1"), run_table("run-2")]), "a manifest holds one run"),
        (manifest_key(RUN_DATE, "run-1"), lambda: run_table("run-1").drop_columns(["phash"]), "lacks column 'phash'"),
        (manifest_key(RUN_DATE, "run-1"),
         lambda: run_table("run-1").cast(run_table().schema.set(7, pa.field("variant", pa.int32()))),
         "'variant' is int32"),
    ],
)
def test_commit_refuses_inconsistent_manifests(key: str, table, message: str) -> None:
    # Checked before any request: no client needed.
    with pytest.raises(ValueError, match=message):
        commit_manifest(None, "bucket", key, table())


def _put_parquet(s3: S3Settings, key: str, table: pa.Table) -> None:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    put_if_absent(boto3_client(s3), s3.bucket, key, sink.getvalue(), "application/vnd.apache.parquet")


def test_read_keeps_a_column_the_first_file_lacks(s3: S3Settings) -> None:
    """An older manifest without `phash` sorts first; the newer one's phash must survive."""
    old = run_table("run-old", n=2).drop_columns(["phash"])  # written by an older schema version
    old = old.set_column(old.schema.get_field_index("run_date"), MANIFEST_SCHEMA.field("run_date"),
                         pa.array([dt.date(2026, 1, 1)] * 2, pa.date32()))
    _put_parquet(s3, manifest_key("2026-01-01", "run-old"), old)
    new = run_table("run-new", n=2)
    commit_manifest(boto3_client(s3), s3.bucket, manifest_key(RUN_DATE, "run-new"), new)

    # Default discovery (first file's schema) silently loses the column: why we pin.
    base = f"{s3.bucket}/manifests"
    default = ds.dataset(base, filesystem=arrow_filesystem(s3), format="parquet")
    assert "phash" not in default.to_table().column_names

    read = read_manifests(s3)
    assert read.num_rows == 4
    by_run = {r: read.filter(pc.equal(read["run_id"], r)) for r in ("run-old", "run-new")}
    assert by_run["run-old"].column("phash").to_pylist() == [None, None]
    assert by_run["run-new"].column("phash").to_pylist() == ["f0f0f0f0f0f0f0f0"] * 2
    assert sorted(set(read.column("run_date").to_pylist())) == [dt.date(2026, 1, 1), RUN_DATE]


def test_read_keeps_an_extra_nullable_column_of_a_newer_file(s3: S3Settings) -> None:
    first = run_table("run-a", n=1)
    first = first.set_column(first.schema.get_field_index("run_date"), MANIFEST_SCHEMA.field("run_date"),
                             pa.array([dt.date(2026, 1, 1)], pa.date32()))
    commit_manifest(boto3_client(s3), s3.bucket, manifest_key("2026-01-01", "run-a"), first)
    second = run_table("run-b", n=2).append_column(
        pa.field("aesthetic_v2", pa.float64(), nullable=True), pa.array([0.5, None])
    )
    assert commit_manifest(boto3_client(s3), s3.bucket, manifest_key(RUN_DATE, "run-b"), second)

    read = read_manifests(s3)
    assert read.column_names[: len(MANIFEST_SCHEMA)] == MANIFEST_SCHEMA.names
    assert read.column_names[-1] == "aesthetic_v2"
    values = dict(zip(read.column("asset_id").to_pylist(), read.column("aesthetic_v2").to_pylist(), strict=True))
    assert values[asset_id("run-a", "SKU-0", 0)] is None
    assert values[asset_id("run-b", "SKU-0", 0)] == 0.5


def test_an_old_file_with_a_clashing_type_fails_the_scan_that_reaches_it(s3: S3Settings) -> None:
    # Only the newest footers extend the schema; an older file that does not fit still fails loudly.
    bad = run_table("run-bad", n=1)
    bad = bad.set_column(bad.schema.get_field_index("steps"), "steps", pa.array(["twenty"]))
    _put_parquet(s3, manifest_key("2026-01-01", "run-bad"), bad.drop_columns(["run_date"]))
    for day in range(2, 11):
        commit_manifest(boto3_client(s3), s3.bucket, manifest_key(f"2026-01-{day:02d}", f"run-{day}"),
                        run_table(f"run-{day}", n=1, run_date=dt.date(2026, 1, day)))
    with pytest.raises(pa.ArrowInvalid, match="twenty"):
        read_manifests(s3)


def test_read_refuses_a_file_with_a_clashing_type(s3: S3Settings) -> None:
    bad = run_table("run-bad", n=1)
    bad = bad.set_column(bad.schema.get_field_index("steps"), "steps", pa.array(["twenty"]))
    _put_parquet(s3, manifest_key(RUN_DATE, "run-bad"), bad)
    with pytest.raises(ValueError, match="does not fit the pinned schema"):
        read_manifests(s3)


def _v1_bytes(table: pa.Table) -> bytes:
    """What a v1 writer stored: every column, run_date included, schema version 1."""
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({b"manifest_schema": b"1"}), sink, compression="zstd")
    return sink.getvalue()


def test_v1_and_v2_files_read_alike_and_v1_migrates_to_the_v2_bytes(s3: S3Settings) -> None:
    client = boto3_client(s3)
    old = run_table("run-v1", n=2)
    old_key = manifest_key(RUN_DATE, "run-v1")
    put_if_absent(client, s3.bucket, old_key, _v1_bytes(old), "application/vnd.apache.parquet")
    new = run_table("run-v2", n=2)
    commit_manifest(client, s3.bucket, manifest_key(RUN_DATE, "run-v2"), new)

    read = read_manifests(s3).sort_by([("run_id", "ascending"), ("variant", "ascending")])
    assert read.equals(pa.concat_tables([old, new]))
    assert read_manifest_file(_v1_bytes(old), old_key).equals(old)
    assert read_manifest_file(_v1_bytes(old), old_key, columns=["asset_id", "run_date"]).column("run_date").to_pylist() \
        == [RUN_DATE] * 2

    migrated = migrate_v1_manifest(_v1_bytes(old), old_key)
    assert migrated is not None and "run_date" not in pq.read_schema(io.BytesIO(migrated)).names
    assert read_manifest_file(migrated, old_key).equals(old)
    assert migrate_v1_manifest(migrated, old_key) is None  # already v2
    # A v1 file from before the added columns migrates too.
    oldest = _v1_bytes(old.drop_columns(["category", "kept", "worker_pid"]))
    migrated = migrate_v1_manifest(oldest, old_key)
    assert migrated is not None and "run_date" not in pq.read_schema(io.BytesIO(migrated)).names
    assert pq.read_schema(io.BytesIO(migrated)).metadata[b"manifest_schema"] == b"2"
    with pytest.raises(ValueError, match="stores run_date .* but its key says 2026-01-01"):
        migrate_v1_manifest(_v1_bytes(old), manifest_key("2026-01-01", "run-v1"))


def test_read_of_an_empty_prefix_is_an_empty_pinned_table(s3: S3Settings) -> None:
    table = read_manifests(s3)
    assert table.num_rows == 0 and table.schema.equals(MANIFEST_SCHEMA)


def test_write_quarantine_any_schema_once(s3: S3Settings) -> None:
    client = boto3_client(s3)
    rows = pa.table({"sku": [None, "dup", "dup"], "reason": ["sku null", "duplicate", "duplicate"]})
    key = quarantine_key(RUN_DATE, "run-1")

    first = write_quarantine(client, s3.bucket, key, rows)
    again = write_quarantine(client, s3.bucket, key, rows)

    assert first.created and not again.created
    stored = pq.read_table(io.BytesIO(client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()))
    assert stored.equals(rows)
    with pytest.raises(ValueError, match="quarantine key"):
        write_quarantine(client, s3.bucket, manifest_key(RUN_DATE, "run-1"), rows)
