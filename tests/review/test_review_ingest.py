"""Review ingest against the real local S3: promotion by create-only copy, the review log, bad rows."""

import datetime as dt
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from catalog_concepts.review.ingest import batch_verdict, ingest_decisions
from catalog_concepts.review.log import read_review_log
from catalog_concepts.review.promote import promote, published_key_for
from catalog_concepts.review.queue import awaiting_review, decided_index, manifest_index, review_status
from catalog_concepts.storage.manifest import read_manifests
from catalog_concepts.storage.publish import ObjectConflictError, put_if_absent
from catalog_concepts.storage.settings import boto3_client

NOW = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(("given", "accepted", "refused", "ok", "message"), [
    (10, 2, 8, True, "2 accepted, 8 refused (see the review-rejected-rows artifact)"),
    (3, 3, 0, True, "3 accepted, 0 refused"),
    (10, 0, 10, False, "0 accepted, 10 refused: no decision of the batch was applied"),
    (0, 0, 0, True, "0 accepted, 0 refused"),  # an empty form: nothing was asked, nothing failed
])
def test_batch_verdict_counts_and_fails_when_nothing_was_accepted(given, accepted, refused, ok, message):
    verdict = batch_verdict(given, accepted, refused)
    assert verdict.ok is ok
    assert verdict.message.startswith(message)


def _keys(s3, prefix=""):
    client = boto3_client(s3)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def _key(row, s3):
    return row["s3_uri"].removeprefix(f"s3://{s3.bucket}/")


def test_good_file_promotes_approvals_logs_all_and_a_second_ingest_changes_nothing(s3, committed_run, decisions_csv):
    review_rows = [r for r in committed_run if r["review_status"] == "pending"]
    a, b, c, _ = review_rows
    data = decisions_csv([
        {"asset_id": a["asset_id"], "decision": "approve", "reviewer": "ana", "note": "good"},
        {"asset_id": b["asset_id"], "decision": "reject", "reviewer": "ana", "note": "wrong colour"},
        {"asset_id": c["asset_id"], "decision": "approve", "reviewer": "bo", "note": ""},
    ])
    from catalog_concepts.review.decisions import parse_decisions

    result = ingest_decisions(s3, parse_decisions(data, "csv"), "s3://x/decisions.csv", now=NOW)
    assert len(result.accepted) == 3 and not result.rejected
    assert sorted(result.promoted_keys) == sorted(published_key_for(_key(r, s3)) for r in (a, c))

    # Approved bytes (with their XMP labels) and metadata are identical in images/.
    client = boto3_client(s3)
    for row in (a, c):
        body = client.get_object(Bucket=s3.bucket, Key=published_key_for(_key(row, s3)))
        data_bytes = body["Body"].read()
        import hashlib

        assert hashlib.sha256(data_bytes).hexdigest() == row["sha256"]
        assert b"trainedAlgorithmicMedia" in data_bytes and body["ContentType"] == "image/png"
        assert body["Metadata"]["asset-id"] == row["asset_id"]
    # The rejected one stays under review/ for audit and is not published.
    assert _key(b, s3) in _keys(s3, "review/")
    assert published_key_for(_key(b, s3)) not in _keys(s3, "images/")

    # One log file for the ingest, partitioned by decision date; manifests untouched.
    assert _keys(s3, "review_log/") == [f"review_log/decided_date=2026-11-21/{result.batch_id}.parquet"]
    log = read_review_log(s3)
    assert sorted(zip(log.column("asset_id").to_pylist(), log.column("decision").to_pylist(), strict=True)) == sorted(
        [(a["asset_id"], "approve"), (b["asset_id"], "reject"), (c["asset_id"], "approve")]
    )
    assert set(log.column("decided_date").to_pylist()) == {dt.date(2026, 11, 21)}
    assert read_manifests(s3).num_rows == len(committed_run)

    # The queue now holds only the undecided image; the join reports every status.
    assert [r["asset_id"] for r in awaiting_review(manifest_index(read_manifests(s3)), decided_index(log))] == [review_rows[3]["asset_id"]]
    status = {r["asset_id"]: r["review_status"] for r in review_status(read_manifests(s3), log).to_pylist()}
    assert [status[r["asset_id"]] for r in committed_run] == [
        "approved", "rejected", "approved", "pending", "not_required", "not_applicable", "not_applicable"]

    # The same file again: every row refused as already decided, nothing copied, no new log.
    before = _keys(s3)
    again = ingest_decisions(s3, parse_decisions(data, "csv"), "s3://x/decisions.csv", now=NOW + dt.timedelta(days=1))
    assert not again.accepted and not again.promoted_keys and again.log_key is None
    assert [r.reason.split(":")[0] for r in again.rejected] == ["already decided"] * 3
    assert _keys(s3) == before


def test_bad_rows_are_refused_row_by_row_and_good_rows_still_land(s3, committed_run, run_store):
    waiting = [r for r in committed_run if r["review_status"] == "pending"]
    dropped = next(r for r in committed_run if r["kept"] is False)
    published = next(r for r in committed_run if r["decision"] == "publish_labeled_preview")
    rejected = next(r for r in committed_run if r["decision"] == "reject")
    rows = [
        {"asset_id": waiting[0]["asset_id"], "decision": "approve", "reviewer": "ana", "note": None},  # good
        {"asset_id": "f" * 32, "decision": "approve", "reviewer": "ana", "note": None},  # unknown
        {"asset_id": published["asset_id"], "decision": "approve", "reviewer": "ana", "note": None},  # not awaiting
        {"asset_id": rejected["asset_id"], "decision": "approve", "reviewer": "ana", "note": None},  # not awaiting
        {"asset_id": waiting[1]["asset_id"], "decision": "approve", "reviewer": "ana", "note": None},  # conflict
        {"asset_id": waiting[1]["asset_id"], "decision": "reject", "reviewer": "bo", "note": None},  # conflict
        {"asset_id": waiting[2]["asset_id"], "decision": "reject", "reviewer": "ana", "note": None},  # good
        {"asset_id": waiting[2]["asset_id"], "decision": "reject", "reviewer": "ana", "note": None},  # duplicate
        {"asset_id": waiting[3]["asset_id"], "decision": "publish", "reviewer": "ana", "note": None},  # bad verdict
        {"asset_id": dropped["asset_id"], "decision": "approve", "reviewer": "ana", "note": None},  # dropped by selection
    ]
    # As Parquet this time, the other accepted format.
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    from catalog_concepts.review.decisions import parse_decisions

    result = ingest_decisions(s3, parse_decisions(sink.getvalue(), "parquet"), "decisions.parquet", now=NOW)
    assert [(d.source_row, d.asset_id) for d in result.accepted] == [(1, waiting[0]["asset_id"]), (7, waiting[2]["asset_id"])]
    assert [(r.source_row, r.reason) for r in result.rejected] == [
        (2, "unknown asset_id: in no committed run manifest"),
        (3, "not awaiting review: the policy decided 'publish_labeled_preview'"),
        (4, "not awaiting review: the policy decided 'reject'"),
        (5, "conflicting decisions for this asset in this file (rows 5, 6)"),
        (6, "conflicting decisions for this asset in this file (rows 5, 6)"),
        (8, "duplicate of row 7"),
        (9, "decision 'publish' is not one of approve, reject"),
        (10, "not awaiting review: review_status is 'not_applicable' (below top-1 of SKU)"),
    ]
    assert result.promoted_keys == (published_key_for(_key(waiting[0], s3)),)
    assert read_review_log(s3).num_rows == 2


def test_promotion_is_create_only_and_refuses_foreign_bytes(s3, committed_run):
    row = next(r for r in committed_run if r["review_status"] == "pending")
    client = boto3_client(s3)
    first = promote(client, s3.bucket, _key(row, s3), row["sha256"])
    second = promote(client, s3.bucket, _key(row, s3), row["sha256"])
    assert (first.created, second.created) == (True, False)
    assert _keys(s3, "images/").count(first.published_key) == 1

    # A different object already at the published key is a conflict, never overwritten.
    other = next(r for r in committed_run[1:] if r["review_status"] == "pending")
    put_if_absent(client, s3.bucket, published_key_for(_key(other, s3)), b"not the reviewed image", "image/png")
    with pytest.raises(ObjectConflictError):
        promote(client, s3.bucket, _key(other, s3), other["sha256"])
    assert client.get_object(Bucket=s3.bucket, Key=published_key_for(_key(other, s3)))["Body"].read() == b"not the reviewed image"

    # Bytes under review/ that are not what the manifest recorded are never published.
    with pytest.raises(ObjectConflictError):
        promote(client, s3.bucket, _key(committed_run[2], s3), "0" * 64)
