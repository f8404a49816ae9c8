"""Orphan cleanup: objects no committed manifest names, older than a grace period, are removed.

Readers follow only keys a manifest names, so an image PUT by a run that crashed before
its manifest commit is invisible but still costs storage. The grace period must exceed
the longest a run can take between its first image PUT and its manifest commit (a run in
flight has no manifest yet); a dry run is the default. Stale multipart uploads are aborted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from catalog_concepts.storage.lease import LEASE_PREFIX, is_live, read_lease
from catalog_concepts.storage.manifest import read_manifests
from catalog_concepts.storage.settings import S3Settings, boto3_client, split_s3_uri

ORPHAN_PREFIXES: tuple[str, ...] = ("images/", "review/", "rejected/", "staging/")
DEFAULT_GRACE = dt.timedelta(hours=72)  # nightly runs: three nights before anything goes
_DELETE_BATCH = 1000  # S3 DeleteObjects limit


@dataclass(frozen=True)
class Orphan:
    """An object under an orphan prefix that no committed manifest names."""

    key: str
    last_modified: dt.datetime
    bytes: int


@dataclass(frozen=True)
class StaleUpload:
    """A multipart upload started before the grace cutoff and never completed."""

    key: str
    upload_id: str
    initiated: dt.datetime


@dataclass(frozen=True)
class CleanupReport:
    """What cleanup found past the grace cutoff and whether it acted (apply=True)."""

    cutoff: dt.datetime
    orphans: list[Orphan]
    stale_uploads: list[StaleUpload]
    young_orphans: int  # unnamed objects still inside the grace period (left alone)
    applied: bool

    def summary(self) -> str:
        """One line for a person."""
        verb = "deleted" if self.applied else "would delete"
        size = sum(o.bytes for o in self.orphans)
        return (
            f"{verb} {len(self.orphans)} orphan objects ({size} bytes) and "
            f"{'aborted' if self.applied else 'would abort'} {len(self.stale_uploads)} stale multipart uploads "
            f"older than {self.cutoff.isoformat()}; {self.young_orphans} younger orphans kept"
        )


def find_orphans(
    settings: S3Settings, *, grace: dt.timedelta = DEFAULT_GRACE, now: dt.datetime | None = None
) -> CleanupReport:
    """List (never delete) orphans and stale multipart uploads older than now - grace."""
    cutoff = _cutoff(grace, now)
    client = boto3_client(settings)
    # List first, then read the manifests: a manifest committed while we list is still seen.
    candidates = [obj for prefix in ORPHAN_PREFIXES for obj in _list(client, settings.bucket, prefix)]
    named = named_keys(settings)
    unnamed = [obj for obj in candidates if obj["Key"] not in named]
    # A run goes as a whole: if any of its unnamed objects is young, the run may still be in
    # flight (or its staged rows would outlive the images they name), so keep all of them.
    # A run whose lease is live IS in flight, however old its first objects are.
    young_runs = {_run_of(obj["Key"]) for obj in unnamed if obj["LastModified"] >= cutoff} | _leased_runs(client, settings.bucket)
    orphans = [
        Orphan(obj["Key"], obj["LastModified"], int(obj.get("Size", 0)))
        for obj in unnamed
        if obj["LastModified"] < cutoff and _run_of(obj["Key"]) not in young_runs
    ]
    stale = [
        StaleUpload(upload["Key"], upload["UploadId"], upload["Initiated"])
        for upload in _list_uploads(client, settings.bucket)
        if upload["Initiated"] < cutoff
    ]
    return CleanupReport(cutoff, orphans, stale, young_orphans=len(unnamed) - len(orphans), applied=False)


def cleanup_orphans(
    settings: S3Settings,
    *,
    grace: dt.timedelta = DEFAULT_GRACE,
    apply: bool = False,
    now: dt.datetime | None = None,
) -> CleanupReport:
    """Find orphans past the grace period; with apply=True delete them and abort stale uploads."""
    report = find_orphans(settings, grace=grace, now=now)
    if not apply:
        return report
    client = boto3_client(settings)
    # Re-read the manifests just before deleting: never remove a key a manifest now names.
    named = named_keys(settings)
    doomed = [o for o in report.orphans if o.key not in named]
    for start in range(0, len(doomed), _DELETE_BATCH):
        batch = doomed[start : start + _DELETE_BATCH]
        answer = client.delete_objects(
            Bucket=settings.bucket, Delete={"Objects": [{"Key": o.key} for o in batch], "Quiet": True}
        )
        if answer.get("Errors"):
            raise RuntimeError(f"cleanup: S3 refused to delete {answer['Errors'][:5]}")
    for upload in report.stale_uploads:
        client.abort_multipart_upload(Bucket=settings.bucket, Key=upload.key, UploadId=upload.upload_id)
    return CleanupReport(report.cutoff, doomed, report.stale_uploads, report.young_orphans, applied=True)


def named_keys(settings: S3Settings) -> set[str]:
    """Every key in settings.bucket that a committed manifest names."""
    uris = read_manifests(settings).column("s3_uri").to_pylist()
    keys = set()
    for uri in uris:
        if uri:
            bucket, key = split_s3_uri(uri)
            if bucket == settings.bucket:
                keys.add(key)
    return keys


def _leased_runs(client, bucket: str) -> set[str]:
    """Run ids whose lease is live: their unnamed objects belong to a run in progress."""
    runs = set()
    for obj in _list(client, bucket, LEASE_PREFIX):
        # leases/run=<run_id>.json (the run) or leases/run=<run_id>/<shard>.json (a shard of it)
        run_id, _, scope = obj["Key"].removeprefix(f"{LEASE_PREFIX}run=").removesuffix(".json").partition("/")
        lease = read_lease(client, bucket, run_id, scope=scope or None)
        if lease is not None and is_live(lease):
            runs.add(run_id)
    return runs


def _cutoff(grace: dt.timedelta, now: dt.datetime | None) -> dt.datetime:
    if not isinstance(grace, dt.timedelta) or grace < dt.timedelta(0):
        raise ValueError(f"grace must be a non-negative datetime.timedelta, got {grace!r}")
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now - grace


def _run_of(key: str) -> str:
    """The run id in images|review|rejected|staging/run=<run_id>/...; the key itself when it has none."""
    parts = key.split("/")
    return parts[1][len("run="):] if len(parts) > 2 and parts[1].startswith("run=") else key


def _list(client, bucket: str, prefix: str) -> list[dict]:
    objects = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects.extend(page.get("Contents", []))
    return objects


def _list_uploads(client, bucket: str) -> list[dict]:
    uploads = []
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        uploads.extend(page.get("Uploads", []))
    return uploads
