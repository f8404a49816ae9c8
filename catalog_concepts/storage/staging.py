"""Per-shard staging of manifest rows: a shard is done when S3 says so, and only then.

A shard counts as done when its staged rows are in the destination bucket AND every object
those rows name is there with the digest and size the rows say. Nothing else (no local
result cache, no earlier process's memory) can make a shard done: after a crash and an
orphan cleanup, or in a bucket whose objects were deleted, the staged rows name objects
that are gone, so the shard is made again.

Staged rows are invisible to readers (they list only committed manifests); the manifest
PUT that gathers them is the run's commit.
"""

import hashlib
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from catalog_concepts.storage.keys import check_run_id
from catalog_concepts.storage.manifest import rows_to_table
from catalog_concepts.storage.publish import put_if_absent, stored_object
from catalog_concepts.storage.settings import split_s3_uri

_CHECK_THREADS = 8  # HEADs overlap: a 128-SKU shard's 256 objects are confirmed in well under a second


def shard_key(run_id: str, index: int, image_identities: Sequence[str]) -> str:
    """Key of a shard's staged rows; it names the exact requests of its images, so a changed plan never reuses it.

    image_identities: one string per image naming what it is, e.g. "<asset_id>:<request_sha256>".
    """
    if index < 0:
        raise ValueError(f"shard index must be >= 0, got {index}")
    digest = hashlib.sha256("\n".join(image_identities).encode()).hexdigest()[:16]
    return f"staging/run={check_run_id(run_id)}/shard-{index:05d}-{digest}.parquet"


def staged_keys(client, bucket: str, run_id: str) -> set[str]:
    """Every key staged for the run: one paginated LIST (1,000 keys a page) instead of a HEAD per shard,
    which at tens of thousands of shards would cost each fleet worker minutes per shard it takes."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"staging/run={check_run_id(run_id)}/")
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def missing_objects(client, bucket: str, rows: Sequence[dict]) -> list[str]:
    """What is wrong with the objects staged rows name: one line per missing, moved or changed object."""
    def check(row: dict) -> str | None:
        uri = row.get("s3_uri")
        if not uri:
            return f"{row.get('asset_id')}: row names no object"
        row_bucket, key = split_s3_uri(uri)
        if row_bucket != bucket:  # a row can only vouch for an object in the bucket it is staged in
            return f"{uri}: in bucket {row_bucket!r}, not {bucket!r}"
        stored = stored_object(client, bucket, key)
        if stored is None:
            return f"{uri}: missing"
        sha256_hex, size = stored
        if sha256_hex != row.get("sha256") or size != row.get("bytes"):
            return f"{uri}: stored sha256 {sha256_hex or 'unknown'} ({size} bytes), row says {row.get('sha256')} ({row.get('bytes')} bytes)"
        return None

    if not rows:
        return []
    with ThreadPoolExecutor(max_workers=min(_CHECK_THREADS, len(rows)), thread_name_prefix="s3head") as pool:
        return [problem for problem in pool.map(check, rows) if problem is not None]


def discard(client, bucket: str, key: str) -> None:
    """Delete staged rows that S3 no longer backs, so the shard can be staged afresh."""
    client.delete_object(Bucket=bucket, Key=key)


def write_rows(client, bucket: str, key: str, rows: list[dict]) -> None:
    """Stage a shard's manifest rows (validated against the pinned manifest schema)."""
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(rows_to_table(rows), buffer)
    put_if_absent(client, bucket, key, buffer.getvalue(), "application/vnd.apache.parquet")


def read_rows(client, bucket: str, key: str) -> list[dict] | None:
    """The staged rows under key, or None when the shard has not been staged."""
    import pyarrow.parquet as pq
    from botocore.exceptions import ClientError

    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    table = pq.read_table(io.BytesIO(body))
    rows = table.to_pylist()
    for row in rows:  # map columns come back as lists of pairs
        for name in ("scores", "scorer_versions"):
            if isinstance(row.get(name), list):
                row[name] = dict(row[name])
    return rows
