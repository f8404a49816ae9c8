"""Exactly-once PUT: conditional create (If-None-Match: *) with a SHA-256 the server checks.

A retry of the same bytes is a no-op (created=False); different bytes under a key
that already exists are a conflict, never an overwrite.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

# The digest also goes into user metadata: a store that does not echo x-amz-checksum-sha256
# on HEAD (or a multipart upload, whose checksum is composite) can still be compared.
SHA256_METADATA_KEY = "sha256"
# A signed image's bytes change with every signing (a fresh signature and instance id) while the
# image itself does not. A caller can name that identity (e.g. a digest of the pixels) in this
# metadata key; an existing object with the same identity is then accepted as this object, and
# the result reports the stored object's digest and size, so a manifest always names the bytes
# that are really there.
IDENTITY_METADATA_KEY = "content-identity"
MAX_THREADS = 64
_MAX_ATTEMPTS = 4  # PUT -> 412 -> HEAD 404 (object deleted in between) -> PUT again, or 409s
_METADATA_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

PutItem = tuple[str, bytes, str, Mapping[str, str] | None]


@dataclass(frozen=True)
class PutResult:
    """Outcome of one put_if_absent: the key, the stored digest and size, whether this call created it,
    and whether the stored object is another signing of the same content (accepted by identity)."""

    key: str
    sha256_hex: str
    bytes: int
    created: bool
    by_identity: bool = False


class ObjectConflictError(RuntimeError):
    """A different object already exists under the key."""

    def __init__(self, bucket: str, key: str, expected_sha256: str, stored_sha256: str | None):
        self.bucket = bucket
        self.key = key
        self.expected_sha256 = expected_sha256
        self.stored_sha256 = stored_sha256
        super().__init__(
            f"s3://{bucket}/{key} already holds different content: "
            f"stored sha256={stored_sha256 or 'unknown'}, ours sha256={expected_sha256}"
        )


def put_if_absent(
    client,
    bucket: str,
    key: str,
    body: bytes,
    content_type: str,
    metadata: Mapping[str, str] | None = None,
) -> PutResult:
    """Create s3://bucket/key with body unless it exists; identical existing content is accepted."""
    from botocore.exceptions import ClientError

    _check_put_args(key, body, content_type, metadata)
    digest = hashlib.sha256(body).digest()
    sha256_hex = digest.hex()
    user_metadata = {**(metadata or {}), SHA256_METADATA_KEY: sha256_hex}

    for _ in range(_MAX_ATTEMPTS):
        try:
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata=user_metadata,
                IfNoneMatch="*",  # create-only: the server answers 412 if the key exists
                ChecksumSHA256=base64.b64encode(digest).decode("ascii"),  # server rejects a torn body
            )
            return PutResult(key=key, sha256_hex=sha256_hex, bytes=len(body), created=True)
        except ClientError as error:
            status = _http_status(error)
            if status == 409:
                continue  # AWS: a concurrent conditional write is in flight; retry decides
            if status != 412:
                raise
        head = _head(client, bucket, key)
        if head is None:
            continue  # deleted between our PUT and HEAD: try to create it again
        stored = _head_sha256(head)
        if stored == sha256_hex:
            return PutResult(key=key, sha256_hex=sha256_hex, bytes=len(body), created=False)
        identity = (metadata or {}).get(IDENTITY_METADATA_KEY)
        if identity and stored and head.get("Metadata", {}).get(IDENTITY_METADATA_KEY) == identity:
            return PutResult(key=key, sha256_hex=stored, bytes=int(head["ContentLength"]), created=False, by_identity=True)
        raise ObjectConflictError(bucket, key, sha256_hex, stored)
    raise RuntimeError(f"s3://{bucket}/{key}: no stable answer after {_MAX_ATTEMPTS} attempts")


def put_many(
    client,
    bucket: str,
    items: Sequence[PutItem],
    *,
    threads: int = 8,
) -> list[PutResult]:
    """put_if_absent for each (key, body, content_type, metadata) on a thread pool, in input order."""
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be an int in 1..{MAX_THREADS}, got {threads!r}")
    duplicates = sorted(key for key, n in Counter(item[0] for item in items).items() if n > 1)
    if duplicates:
        raise ValueError(f"put_many got the same key more than once: {duplicates[:5]}")
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="s3put") as pool:
        futures = [
            pool.submit(put_if_absent, client, bucket, key, body, content_type, metadata)
            for key, body, content_type, metadata in items
        ]
        return [future.result() for future in futures]


def stored_sha256(client, bucket: str, key: str) -> str | None:
    """Hex SHA-256 of the stored object (server checksum, else our metadata); None if absent."""
    head = _head(client, bucket, key)
    return None if head is None else _head_sha256(head)


def object_exists(client, bucket: str, key: str) -> bool:
    """True if an object exists under key (a HEAD; 404 is False, any other error raises)."""
    return _head(client, bucket, key) is not None


def stored_object(client, bucket: str, key: str) -> tuple[str, int] | None:
    """(hex SHA-256, size in bytes) of the stored object; None if absent. The digest is "" when unknown."""
    head = _head(client, bucket, key)
    return None if head is None else (_head_sha256(head), int(head["ContentLength"]))


def _head(client, bucket: str, key: str) -> dict | None:
    """HEAD with checksums, or None when the object does not exist."""
    from botocore.exceptions import ClientError

    try:
        return client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as error:
        if _http_status(error) == 404:
            return None
        raise


def _head_sha256(head: dict) -> str:
    """The stored object's hex SHA-256 from a HEAD answer; "" when unknown."""
    checksum = head.get("ChecksumSHA256")
    # A multipart checksum is a digest of part digests ("...-N"), not of the object.
    if checksum and "-" not in checksum:
        try:
            return base64.b64decode(checksum, validate=True).hex()
        except binascii.Error:
            pass
    # "" (present, digest unknown) never equals a real digest: the caller fails closed.
    return head.get("Metadata", {}).get(SHA256_METADATA_KEY) or ""


def _http_status(error) -> int | None:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _check_put_args(
    key: str, body: bytes, content_type: str, metadata: Mapping[str, str] | None
) -> None:
    if not isinstance(key, str) or not key or key.startswith("/"):
        raise ValueError(f"invalid object key {key!r}: expected a non-empty relative key")
    if not isinstance(body, bytes):
        raise TypeError(f"body must be bytes, got {type(body).__name__}")
    if not isinstance(content_type, str) or "/" not in content_type:
        raise ValueError(f"invalid content_type {content_type!r}: expected e.g. 'image/png'")
    for name, value in (metadata or {}).items():
        # S3 user metadata travels as HTTP headers: lowercase ASCII names, ASCII values.
        if not isinstance(name, str) or not _METADATA_KEY_RE.match(name):
            raise ValueError(f"invalid metadata key {name!r}: use lowercase a-z, 0-9, '-'")
        if name == SHA256_METADATA_KEY:
            raise ValueError(f"metadata key {name!r} is reserved for the body's digest")
        if not isinstance(value, str) or not value.isascii():
            raise ValueError(f"metadata value for {name!r} must be an ASCII string, got {value!r}")
