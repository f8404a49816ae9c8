"""Rewrite a bucket's v1 manifests as v2, so that readers other than this project's read them.

A v1 file also stores run_date inside, as a date, which hive-aware readers refuse beside the
string they read from the `run_date=` path. The rewrite keeps every row and column but run_date
(the key carries it) and is the one time a committed manifest is overwritten: the object's
SHA-256 metadata is replaced with the new bytes' digest, so a later commit of the same run
compares equal as it would have before.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from catalog_concepts.storage.manifest import PARQUET_CONTENT_TYPE, migrate_v1_manifest
from catalog_concepts.storage.publish import SHA256_METADATA_KEY
from catalog_concepts.storage.settings import S3Settings, boto3_client


@dataclass(frozen=True)
class MigrationReport:
    """v1 manifest keys found (and rewritten when applied), and how many were already v2."""

    v1_keys: tuple[str, ...]
    already_v2: int
    applied: bool

    def summary(self) -> str:
        """One line: what was found and what was done."""
        verb = "rewrote" if self.applied else "would rewrite"
        return f"{verb} {len(self.v1_keys)} v1 manifest(s) as v2; {self.already_v2} already v2"


def migrate_manifests(settings: S3Settings, apply: bool = False) -> MigrationReport:
    """Find v1 manifests under manifests/; with apply, overwrite each with its v2 bytes."""
    client = boto3_client(settings)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix="manifests/")
    keys = sorted(obj["Key"] for page in pages for obj in page.get("Contents", []) if obj["Key"].endswith(".parquet"))
    v1_keys, already_v2 = [], 0
    for key in keys:
        migrated = migrate_v1_manifest(client.get_object(Bucket=settings.bucket, Key=key)["Body"].read(), key)
        if migrated is None:
            already_v2 += 1
            continue
        v1_keys.append(key)
        if apply:
            digest = hashlib.sha256(migrated).digest()
            client.put_object(
                Bucket=settings.bucket, Key=key, Body=migrated, ContentType=PARQUET_CONTENT_TYPE,
                Metadata={SHA256_METADATA_KEY: digest.hex()},
                ChecksumSHA256=base64.b64encode(digest).decode("ascii"),  # the server refuses a torn body
            )
    return MigrationReport(tuple(v1_keys), already_v2, apply)
