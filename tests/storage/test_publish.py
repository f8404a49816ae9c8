"""Exactly-once PUT against the real local SeaweedFS."""

from __future__ import annotations

import base64
import hashlib
import threading

import pytest
from botocore.exceptions import ClientError

from catalog_concepts.storage.publish import (
    ObjectConflictError,
    PutResult,
    put_if_absent,
    put_many,
    stored_sha256,
)
from catalog_concepts.storage.settings import S3Settings, boto3_client


def _get(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def _exists(client, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        return False
    return True


def test_first_put_creates_then_identical_put_is_a_no_op(s3: S3Settings) -> None:
    client = boto3_client(s3)
    body = b"\x89PNG fake image bytes" * 100
    digest = hashlib.sha256(body).hexdigest()

    first = put_if_absent(client, s3.bucket, "images/a.png", body, "image/png", {"run-id": "r1"})
    second = put_if_absent(client, s3.bucket, "images/a.png", body, "image/png", {"run-id": "r1"})

    assert first == PutResult("images/a.png", digest, len(body), created=True)
    assert second == PutResult("images/a.png", digest, len(body), created=False)
    head = client.head_object(Bucket=s3.bucket, Key="images/a.png")
    assert head["ContentType"] == "image/png"
    assert head["Metadata"] == {"run-id": "r1", "sha256": digest}
    assert _get(client, s3.bucket, "images/a.png") == body


def test_seaweedfs_returns_the_server_checksum_on_head(s3: S3Settings) -> None:
    """put_if_absent compares the server-side x-amz-checksum-sha256 (metadata is the fallback)."""
    client = boto3_client(s3)
    body = b"checksum me"
    put_if_absent(client, s3.bucket, "k", body, "application/octet-stream")
    head = client.head_object(Bucket=s3.bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()


def test_different_body_under_existing_key_is_a_conflict(s3: S3Settings) -> None:
    client = boto3_client(s3)
    put_if_absent(client, s3.bucket, "k", b"original", "text/plain")

    with pytest.raises(ObjectConflictError) as info:
        put_if_absent(client, s3.bucket, "k", b"imposter", "text/plain")

    error = info.value
    assert error.key == "k"
    assert error.stored_sha256 == hashlib.sha256(b"original").hexdigest()
    assert error.expected_sha256 == hashlib.sha256(b"imposter").hexdigest()
    assert error.stored_sha256 in str(error) and error.expected_sha256 in str(error)
    assert _get(client, s3.bucket, "k") == b"original"  # never overwritten


def test_same_identity_other_bytes_is_accepted_as_the_stored_object(s3: S3Settings) -> None:
    """A re-signed image (new signature, same pixels) is the stored image, reported with the stored digest."""
    from catalog_concepts.storage.publish import IDENTITY_METADATA_KEY

    client = boto3_client(s3)
    first = put_if_absent(client, s3.bucket, "img", b"signed-once", "image/png", {IDENTITY_METADATA_KEY: "pixels-1"})
    again = put_if_absent(client, s3.bucket, "img", b"signed-again!", "image/png", {IDENTITY_METADATA_KEY: "pixels-1"})
    assert first.created and not again.created
    assert again.by_identity and not first.by_identity
    assert again.sha256_hex == first.sha256_hex == hashlib.sha256(b"signed-once").hexdigest()
    assert again.bytes == len(b"signed-once")
    assert _get(client, s3.bucket, "img") == b"signed-once"
    # Another identity (other pixels) under the key is still a conflict, never an overwrite.
    with pytest.raises(ObjectConflictError):
        put_if_absent(client, s3.bucket, "img", b"other", "image/png", {IDENTITY_METADATA_KEY: "pixels-2"})
    # Without an identity, other bytes conflict as before.
    with pytest.raises(ObjectConflictError):
        put_if_absent(client, s3.bucket, "img", b"signed-again!", "image/png")


def test_body_changed_after_hashing_is_rejected_and_nothing_stored(s3: S3Settings) -> None:
    client = boto3_client(s3)

    def swap_body_fault(params, **_):
        # Test double for a fault we cannot cause otherwise: the bytes sent are not
        # the bytes hashed (a mutated buffer). The server must refuse them.
        params["Body"] = b"not the hashed bytes"

    client.meta.events.register("before-parameter-build.s3.PutObject", swap_body_fault)
    with pytest.raises(ClientError) as info:
        put_if_absent(client, s3.bucket, "torn", b"the hashed bytes", "text/plain")

    assert info.value.response["Error"]["Code"] == "BadDigest"
    assert not _exists(client, s3.bucket, "torn")


def test_stored_sha256_falls_back_to_metadata_and_fails_closed(s3: S3Settings) -> None:
    client = boto3_client(s3)
    assert stored_sha256(client, s3.bucket, "absent") is None

    # An object written by someone else, without a SHA-256 checksum.
    client.put_object(Bucket=s3.bucket, Key="meta-only", Body=b"x", Metadata={"sha256": "ab" * 32})
    assert stored_sha256(client, s3.bucket, "meta-only") == "ab" * 32

    client.put_object(Bucket=s3.bucket, Key="no-digest", Body=b"x")
    assert stored_sha256(client, s3.bucket, "no-digest") == ""
    # Same bytes, but nothing proves it: refuse rather than assume.
    with pytest.raises(ObjectConflictError, match="stored sha256=unknown"):
        put_if_absent(client, s3.bucket, "no-digest", b"x", "text/plain")


def _race(s3: S3Settings, bodies: list[bytes]) -> tuple[list[PutResult], list[ObjectConflictError]]:
    client = boto3_client(s3)
    barrier = threading.Barrier(len(bodies))
    results: list[PutResult] = []
    conflicts: list[ObjectConflictError] = []
    lock = threading.Lock()

    def contender(body: bytes) -> None:
        barrier.wait()
        try:
            result = put_if_absent(client, s3.bucket, "contested", body, "application/octet-stream")
            with lock:
                results.append(result)
        except ObjectConflictError as error:
            with lock:
                conflicts.append(error)

    threads = [threading.Thread(target=contender, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, conflicts


def test_sixteen_racing_writers_with_different_bodies_one_wins(s3: S3Settings) -> None:
    bodies = [f"body {i}".encode() * 1000 for i in range(16)]
    results, conflicts = _race(s3, bodies)

    assert len(results) == 1 and results[0].created
    assert len(conflicts) == 15
    winner = _get(boto3_client(s3), s3.bucket, "contested")
    assert hashlib.sha256(winner).hexdigest() == results[0].sha256_hex
    assert {c.stored_sha256 for c in conflicts} == {results[0].sha256_hex}


def test_sixteen_racing_writers_with_the_same_body_create_once(s3: S3Settings) -> None:
    results, conflicts = _race(s3, [b"same bytes" * 1000] * 16)

    assert conflicts == []
    assert sorted(r.created for r in results) == [False] * 15 + [True]


def test_put_many_keeps_order_and_is_idempotent(s3: S3Settings) -> None:
    client = boto3_client(s3)
    items = [(f"many/{i:03d}.bin", f"payload {i}".encode(), "application/octet-stream", {"i": str(i)})
             for i in range(40)]

    first = put_many(client, s3.bucket, items, threads=8)
    again = put_many(client, s3.bucket, items, threads=8)

    assert [r.key for r in first] == [item[0] for item in items]
    assert all(r.created for r in first)
    assert not any(r.created for r in again)
    assert [r.sha256_hex for r in again] == [hashlib.sha256(item[1]).hexdigest() for item in items]
    assert _get(client, s3.bucket, "many/007.bin") == b"payload 7"


def test_put_many_conflict_surfaces(s3: S3Settings) -> None:
    client = boto3_client(s3)
    put_if_absent(client, s3.bucket, "many/1", b"old", "text/plain")
    with pytest.raises(ObjectConflictError, match="many/1"):
        put_many(client, s3.bucket, [("many/0", b"a", "text/plain", None), ("many/1", b"new", "text/plain", None)])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"threads": 0}, ValueError, r"threads must be an int in 1\.\.64"),
        ({"threads": 65}, ValueError, r"threads must be an int in 1\.\.64"),
        ({"items": [("a", b"1", "text/plain", None), ("a", b"2", "text/plain", None)]}, ValueError,
         "same key more than once"),
    ],
)
def test_put_many_rejects_bad_arguments(kwargs, error, message) -> None:
    arguments = {"items": [("a", b"1", "text/plain", None)], "threads": 4, **kwargs}
    with pytest.raises(error, match=message):
        put_many(None, "bucket", arguments["items"], threads=arguments["threads"])


@pytest.mark.parametrize(
    ("key", "body", "content_type", "metadata", "error", "message"),
    [
        ("", b"x", "text/plain", None, ValueError, "invalid object key"),
        ("/abs", b"x", "text/plain", None, ValueError, "invalid object key"),
        ("k", "text", "text/plain", None, TypeError, "body must be bytes"),
        ("k", b"x", "plain", None, ValueError, "invalid content_type"),
        ("k", b"x", "text/plain", {"sha256": "f" * 64}, ValueError, "reserved"),
        ("k", b"x", "text/plain", {"Upper": "v"}, ValueError, "invalid metadata key"),
        ("k", b"x", "text/plain", {"k": "caf\u00e9"}, ValueError, "ASCII string"),
    ],
)
def test_put_if_absent_validates_before_any_request(key, body, content_type, metadata, error, message) -> None:
    with pytest.raises(error, match=message):
        put_if_absent(None, "bucket", key, body, content_type, metadata)
