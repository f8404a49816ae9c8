"""Confirm after the commit that the objects a manifest names are still the bytes verified before it.

Every image was downloaded and checked before the commit (`provenance/precommit.py`), and its ETag
noted. Objects are written create-only, so between that check and the commit only a deletion (an
orphan cleanup run by mistake, a person) or an overwrite by another writer can change them. A LIST
returns each object's ETag and size, 1,000 objects per request: a run's few prefixes are confirmed
in a handful of requests instead of re-downloading every image a second time.
"""

from collections.abc import Mapping, Sequence

from catalog_concepts.storage.settings import split_s3_uri


def unconfirmed_objects(client, bucket: str, rows: Sequence[dict], etags: Mapping[str, str]) -> list[dict]:
    """The rows whose object is not listed in bucket as verified: one {"asset_id", "s3_uri", "problems"} each.

    etags: asset id -> the ETag of the bytes that verified. A row without one was never verified and fails.
    """
    stored = [row for row in rows if row.get("s3_uri")]
    keys = {row["asset_id"]: split_s3_uri(row["s3_uri"]) for row in stored}
    listed = _listing(client, bucket, {_prefix(key) for row_bucket, key in keys.values() if row_bucket == bucket})
    problems = []
    for row in stored:
        row_bucket, key = keys[row["asset_id"]]
        found = listed.get(key) if row_bucket == bucket else None
        if row_bucket != bucket:
            problem = f"stored in bucket {row_bucket!r}, not in the manifest's bucket {bucket!r}"
        elif row["asset_id"] not in etags:
            problem = "not verified before the commit"
        elif found is None:
            problem = "object is missing"
        elif found != (etags[row["asset_id"]], row.get("bytes")):
            problem = f"object changed after it was verified (ETag {found[0]}, {found[1]} bytes)"
        else:
            continue
        problems.append({"asset_id": row["asset_id"], "s3_uri": row["s3_uri"], "problems": [problem]})
    return problems


def _prefix(key: str) -> str:
    """The listing that holds key: its first two path segments (images/run=<run_id>/, review/run=<run_id>/)."""
    parts = key.split("/")
    return "/".join(parts[:2]) + "/" if len(parts) > 2 else key


def _listing(client, bucket: str, prefixes: set[str]) -> dict[str, tuple[str, int]]:
    """key -> (ETag, size) of every object under the prefixes."""
    listed = {}
    for prefix in sorted(prefixes):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                listed[obj["Key"]] = (obj["ETag"], int(obj["Size"]))
    return listed
