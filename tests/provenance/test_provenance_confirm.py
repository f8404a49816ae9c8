"""unconfirmed_objects against the real local S3: a LIST after the commit shows deleted and overwritten objects."""

from __future__ import annotations

from catalog_concepts.provenance.confirm import unconfirmed_objects
from catalog_concepts.provenance.precommit import PrecommitVerification
from catalog_concepts.storage.settings import boto3_client, split_s3_uri


def _etags(s3, rows) -> dict[str, str]:
    with PrecommitVerification(s3, "s3://b/m.parquet", trust_anchor_pem=None) as verifier:
        verifier.add(rows)
        report = verifier.result()
    assert report.ok
    return {check.asset_id: check.etag for check in report.rows}


def test_objects_as_verified_are_confirmed(s3, publish_run):
    run = publish_run(s3)
    assert unconfirmed_objects(boto3_client(s3), s3.bucket, run.rows, _etags(s3, run.rows)) == []


def test_deleted_overwritten_unverified_and_foreign_objects_are_each_named(s3, publish_run):
    run = publish_run(s3)
    etags = _etags(s3, run.rows)
    client = boto3_client(s3)
    client.delete_object(Bucket=s3.bucket, Key=split_s3_uri(run.rows[0]["s3_uri"])[1])
    client.put_object(Bucket=s3.bucket, Key=split_s3_uri(run.rows[1]["s3_uri"])[1], Body=b"x" * run.rows[1]["bytes"])  # same size
    del etags[run.rows[2]["asset_id"]]
    rows = [*run.rows[:5], {**run.rows[5], "s3_uri": run.rows[5]["s3_uri"].replace(f"s3://{s3.bucket}/", "s3://elsewhere/")},
            {**run.rows[4], "asset_id": "unstored", "s3_uri": None}]
    problems = {p["asset_id"]: p["problems"][0] for p in unconfirmed_objects(client, s3.bucket, rows, etags)}
    assert problems.keys() == {run.rows[i]["asset_id"] for i in (0, 1, 2, 5)}
    assert problems[run.rows[0]["asset_id"]] == "object is missing"
    assert problems[run.rows[1]["asset_id"]].startswith("object changed after it was verified (ETag ")
    assert problems[run.rows[2]["asset_id"]] == "not verified before the commit"
    assert problems[run.rows[5]["asset_id"]] == f"stored in bucket 'elsewhere', not in the manifest's bucket {s3.bucket!r}"
