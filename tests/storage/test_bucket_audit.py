"""The bucket audit on a real SeaweedFS bucket seeded with one defect of every kind, and on a clean one."""

import hashlib
import io

import pyarrow as pa
import pyarrow.parquet as pq

from catalog_concepts.storage.bucket_audit import audit_bucket
from catalog_concepts.storage.settings import boto3_client


def _put_image(client, bucket: str, key: str, body: bytes, asset_id: str) -> str:
    client.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"asset-id": asset_id})
    return hashlib.sha256(body).hexdigest()


def _put_manifest(client, bucket: str, key: str, rows: list[dict]) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    client.put_object(Bucket=bucket, Key=key, Body=sink.getvalue())


def _row(bucket: str, asset_id: str, key: str, sha256: str) -> dict:
    return {"asset_id": asset_id, "s3_uri": f"s3://{bucket}/{key}", "sha256": sha256}


def test_audit_counts_each_kind_of_disagreement_once(s3):
    client, bucket = boto3_client(s3), s3.bucket
    good = _put_image(client, bucket, "images/run=r/aa/a/v0.png", b"a", "A")
    _put_image(client, bucket, "review/run=r/bb/b/v0.png", b"b", "B")
    _put_image(client, bucket, "rejected/run=r/dd/d/v0.png", b"d", "D")  # no row names it
    twin = _put_image(client, bucket, "images/run=r/ff/f/v0.png", b"f", "F")
    _put_image(client, bucket, "review/run=r/ff/f/v0.png", b"f", "F")  # the same asset stored twice
    _put_image(client, bucket, "images/run=r/ee/e/v0.png", b"e", "E")
    client.put_object(Bucket=bucket, Key="staging/run=r/shard-00000-x.parquet", Body=b"not an image")
    _put_manifest(client, bucket, "manifests/run_date=2026-01-01/r.parquet", [
        _row(bucket, "A", "images/run=r/aa/a/v0.png", good),
        _row(bucket, "B", "review/run=r/bb/b/v0.png", "0" * 64),  # mismatched digest
        _row(bucket, "C", "images/run=r/cc/c/v0.png", "1" * 64),  # lost: never stored
        _row("another-bucket", "G", "images/run=r/aa/a/v0.png", good),  # lost: lives elsewhere
        _row(bucket, "E", "images/run=r/ee/e/v0.png", hashlib.sha256(b"e").hexdigest()),
        _row(bucket, "E", "images/run=r/ee/e/v0.png", hashlib.sha256(b"e").hexdigest()),  # a second row
        _row(bucket, "F", "images/run=r/ff/f/v0.png", twin),
    ])

    audit = audit_bucket(s3)
    assert audit.rows == 7
    assert audit.objects == {"images": 3, "review": 2, "rejected": 1} and audit.stored == 6
    assert audit.lost == 2
    assert audit.mismatched == 1
    assert audit.duplicated == 2  # E has two rows, F has two objects
    assert audit.orphaned == 2  # D, and F's second copy under review/
    assert not audit.ok
    assert any("another-bucket" in line for line in audit.examples)


def test_audit_of_a_consistent_bucket_is_ok(s3):
    client, bucket = boto3_client(s3), s3.bucket
    rows = [
        _row(bucket, f"A{i}", f"images/run=r/aa/{i}/v0.png", _put_image(client, bucket, f"images/run=r/aa/{i}/v0.png", bytes([i]) * 99, f"A{i}"))
        for i in range(5)
    ]
    _put_manifest(client, bucket, "manifests/run_date=2026-01-01/r.parquet", rows)
    audit = audit_bucket(s3)
    assert (audit.rows, audit.stored) == (5, 5)
    assert audit.ok and audit.examples == []
