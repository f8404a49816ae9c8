"""Staged shard rows count only while S3 holds every object they name, with the digests they name."""

import hashlib

from catalog_concepts.storage import staging
from catalog_concepts.storage.publish import put_if_absent
from catalog_concepts.storage.settings import boto3_client


def _row(bucket: str, key: str, body: bytes) -> dict:
    return {"asset_id": key, "s3_uri": f"s3://{bucket}/{key}", "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}


def test_rows_whose_objects_are_all_there_have_no_problems(s3):
    client = boto3_client(s3)
    rows = []
    for i in range(5):
        body = f"image {i}".encode() * 100
        put_if_absent(client, s3.bucket, f"images/run=r/{i}.png", body, "image/png")
        rows.append(_row(s3.bucket, f"images/run=r/{i}.png", body))
    assert staging.missing_objects(client, s3.bucket, rows) == []


def test_missing_changed_and_foreign_objects_are_each_named(s3):
    client = boto3_client(s3)
    kept, changed = b"kept" * 50, b"changed" * 50
    put_if_absent(client, s3.bucket, "images/run=r/kept.png", kept, "image/png")
    put_if_absent(client, s3.bucket, "images/run=r/changed.png", b"other bytes", "image/png")
    rows = [
        _row(s3.bucket, "images/run=r/kept.png", kept),
        _row(s3.bucket, "images/run=r/gone.png", b"never stored"),
        _row(s3.bucket, "images/run=r/changed.png", changed),
        _row("another-bucket", "images/run=r/kept.png", kept),
        {"asset_id": "a5", "s3_uri": None, "sha256": None, "bytes": None},
    ]
    problems = staging.missing_objects(client, s3.bucket, rows)
    assert len(problems) == 4
    assert problems[0] == f"s3://{s3.bucket}/images/run=r/gone.png: missing"
    assert problems[1].startswith(f"s3://{s3.bucket}/images/run=r/changed.png: stored sha256 {hashlib.sha256(b'other bytes').hexdigest()}")
    assert problems[2] == f"s3://another-bucket/images/run=r/kept.png: in bucket 'another-bucket', not {s3.bucket!r}"
    assert problems[3] == "a5: row names no object"


def test_shard_key_changes_with_any_image_identity():
    base = staging.shard_key("run-1", 3, ["a:1", "b:2"])
    assert base.startswith("staging/run=run-1/shard-00003-") and base.endswith(".parquet")
    assert staging.shard_key("run-1", 3, ["a:1", "b:2"]) == base
    assert staging.shard_key("run-1", 3, ["a:1", "b:3"]) != base  # one request changed
    assert staging.shard_key("run-1", 4, ["a:1", "b:2"]) != base


def test_staged_keys_lists_exactly_the_runs_staged_shards_across_pages(s3):
    """One paginated LIST answers "which shards are staged" for a whole plan (a fleet worker asks before every claim)."""
    client = boto3_client(s3)
    ours = [staging.shard_key("run-a", i, [f"a{i}:1"]) for i in range(1003)]  # more than one LIST page (1,000 keys)
    theirs = staging.shard_key("run-ab", 0, ["x:1"])  # a run id that extends ours must not leak in
    for key in [*ours, theirs]:
        client.put_object(Bucket=s3.bucket, Key=key, Body=b"rows")
    assert staging.staged_keys(client, s3.bucket, "run-a") == set(ours)
    assert staging.staged_keys(client, s3.bucket, "run-never") == set()
