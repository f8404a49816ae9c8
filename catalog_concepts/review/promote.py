"""Promotion of an approved image: server-side copy from review/ to images/, created at most once.

The copy keeps the stored bytes, content type and metadata (XMP labels live inside the PNG),
and `If-None-Match: *` makes a second promotion a no-op, never an overwrite.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog_concepts.storage.publish import ObjectConflictError, stored_sha256

REVIEW_PREFIX = "review/"
PUBLISHED_PREFIX = "images/"


@dataclass(frozen=True)
class Promotion:
    """Where an approved image now lives and whether this call created it."""

    source_key: str
    published_key: str
    created: bool


def published_key_for(review_key: str) -> str:
    """images/run=.../v0.png for review/run=.../v0.png (same layout, other prefix)."""
    if not review_key.startswith(REVIEW_PREFIX + "run="):
        raise ValueError(f"not a review key: {review_key!r}; expected review/run=<run_id>/...")
    return PUBLISHED_PREFIX + review_key.removeprefix(REVIEW_PREFIX)


def promote(client, bucket: str, review_key: str, expected_sha256: str) -> Promotion:
    """Copy review_key to the published prefix unless already there; the bytes must match expected_sha256."""
    from botocore.exceptions import ClientError

    target = published_key_for(review_key)
    source = stored_sha256(client, bucket, review_key)
    if source != expected_sha256:
        # Fail closed: publish only the exact bytes the policy and the reviewer looked at.
        raise ObjectConflictError(bucket, review_key, expected_sha256, source)
    try:
        client.copy_object(
            Bucket=bucket,
            Key=target,
            CopySource={"Bucket": bucket, "Key": review_key},
            MetadataDirective="COPY",
            IfNoneMatch="*",  # create-only: a second promotion answers 412
        )
        created = True
    except ClientError as error:
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 412:
            raise
        created = False
    stored = stored_sha256(client, bucket, target)
    if stored != expected_sha256:
        raise ObjectConflictError(bucket, target, expected_sha256, stored)
    return Promotion(source_key=review_key, published_key=target, created=created)
