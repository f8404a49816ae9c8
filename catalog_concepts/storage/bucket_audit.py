"""An independent audit of one bucket: do the committed manifests and the stored images agree exactly?

It reads the raw bytes (every manifest Parquet, every image object) with a plain boto3
client and hashes them itself, so it trusts neither the pipeline's readers nor any metadata
digest. Counted against the committed manifests (objects under manifests/):

- lost: rows whose s3_uri names no object in this bucket (missing, or in another bucket);
- duplicated: extra rows for one asset_id, plus extra objects for one asset (two keys, e.g.
  under images/ and review/, carrying the same asset-id);
- orphaned: image objects that no manifest row names;
- mismatched: rows whose object's SHA-256 differs from the row's sha256.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from catalog_concepts.storage.settings import S3Settings, boto3_client

IMAGE_PREFIXES: tuple[str, ...] = ("images/", "review/", "rejected/")
MANIFEST_PREFIX = "manifests/"
ASSET_ID_METADATA_KEY = "asset-id"  # set by the shard worker on every image PUT
_MAX_EXAMPLES = 5
_GET_THREADS = 8


@dataclass(frozen=True)
class BucketAudit:
    """Counts of manifest rows, image objects per prefix, and each kind of disagreement (with a few examples)."""

    rows: int
    objects: dict[str, int]
    lost: int
    duplicated: int
    orphaned: int
    mismatched: int
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every row has its object with its digest and every object has exactly one row."""
        return self.lost == self.duplicated == self.orphaned == self.mismatched == 0

    @property
    def stored(self) -> int:
        """Image objects under all prefixes together."""
        return sum(self.objects.values())


def audit_bucket(settings: S3Settings) -> BucketAudit:
    """Compare every committed manifest row in the bucket with the image objects actually stored."""
    import pyarrow.parquet as pq

    client = boto3_client(settings)
    bucket = settings.bucket
    rows: list[dict] = []
    for key in _list(client, bucket, MANIFEST_PREFIX):
        if key.endswith(".parquet"):
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            rows += pq.read_table(io.BytesIO(body), columns=["asset_id", "s3_uri", "sha256"]).to_pylist()
    image_keys = [key for prefix in IMAGE_PREFIXES for key in _list(client, bucket, prefix)]

    def fetch(key: str) -> tuple[str, str, str]:
        response = client.get_object(Bucket=bucket, Key=key)
        digest = hashlib.sha256(response["Body"].read()).hexdigest()
        # The key without its prefix names the asset too (run, sku digest, variant): a fallback.
        asset = response.get("Metadata", {}).get(ASSET_ID_METADATA_KEY) or key.split("/", 1)[1]
        return key, digest, asset

    with ThreadPoolExecutor(_GET_THREADS) as pool:
        stored = {key: (digest, asset) for key, digest, asset in pool.map(fetch, image_keys)}

    examples: list[str] = []

    def note(text: str) -> None:
        if len(examples) < _MAX_EXAMPLES:
            examples.append(text)

    own_prefix = f"s3://{bucket}/"
    named: set[str] = set()
    lost = mismatched = 0
    for row in rows:
        uri = row["s3_uri"]
        named_key = uri.removeprefix(own_prefix) if uri and uri.startswith(own_prefix) else None
        if named_key is None or named_key not in stored:
            lost += 1
            note(f"lost: row {row['asset_id']} names {uri}, which is not in s3://{bucket}")
            continue
        named.add(named_key)
        if stored[named_key][0] != row["sha256"]:
            mismatched += 1
            note(f"mismatched: {uri} has sha256 {stored[named_key][0]}, its row says {row['sha256']}")

    row_counts = Counter(row["asset_id"] for row in rows)
    object_counts = Counter(asset for _, asset in stored.values())
    duplicated = sum(n - 1 for n in row_counts.values() if n > 1) + sum(n - 1 for n in object_counts.values() if n > 1)
    for asset, n in [*row_counts.items(), *object_counts.items()]:
        if n > 1:
            note(f"duplicated: asset {asset} appears {n} times")
    orphans = sorted(set(stored) - named)
    for key in orphans:
        note(f"orphaned: s3://{bucket}/{key} is named by no manifest row")

    objects = {prefix.rstrip("/"): sum(key.startswith(prefix) for key in stored) for prefix in IMAGE_PREFIXES}
    return BucketAudit(
        rows=len(rows), objects=objects, lost=lost, duplicated=duplicated,
        orphaned=len(orphans), mismatched=mismatched, examples=examples,
    )


def _list(client, bucket: str, prefix: str) -> list[str]:
    """Every key under prefix."""
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys
