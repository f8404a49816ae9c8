"""PrecommitVerification against the real local S3: shards checked as they come, the same verdicts as verify_run,
the contact sheet's pictures ranked across the whole night with bounded memory."""

from __future__ import annotations

import pytest

from catalog_concepts.provenance.precommit import ImagesNotVerifiedError, PrecommitVerification, not_verified_message
from catalog_concepts.provenance.verify import verify_run
from catalog_concepts.reports.contact_sheet import thumbnail_order, thumbnail_rank
from catalog_concepts.storage.settings import boto3_client, split_s3_uri


def test_shards_added_one_by_one_verify_like_the_committed_run(s3, publish_run):
    run = publish_run(s3)
    with PrecommitVerification(s3, "s3://b/m.parquet", trust_anchor_pem=run.signer.trust_anchor_pem) as verifier:
        for start in range(0, len(run.rows), 2):  # three shards of two images
            verifier.add(run.rows[start : start + 2])
        report = verifier.result()
    after = verify_run(s3, run.run_id, trust_anchor_pem=run.signer.trust_anchor_pem)
    assert report.ok and len(report.rows) == 6 and report.unstored == 0
    assert [(c.asset_id, c.ok, c.c2pa_state) for c in report.rows] == [(c.asset_id, c.ok, c.c2pa_state) for c in after.rows]
    # Each check notes the ETag of the bytes it verified: what the post-commit LIST compares with.
    client = boto3_client(s3)
    for check in report.rows:
        bucket, key = split_s3_uri(check.s3_uri)
        assert check.etag == client.head_object(Bucket=bucket, Key=key)["ETag"]


def test_an_image_that_does_not_verify_is_named_before_any_commit(s3, publish_run):
    run = publish_run(s3, commit=False)
    client = boto3_client(s3)
    bucket, key = split_s3_uri(run.rows[3]["s3_uri"])
    client.put_object(Bucket=bucket, Key=key, Body=b"not the image")
    with PrecommitVerification(s3, "s3://b/m.parquet", trust_anchor_pem=run.signer.trust_anchor_pem) as verifier:
        verifier.add(run.rows)
        report = verifier.result()
    assert not report.ok and [c.asset_id for c in report.failures] == [run.rows[3]["asset_id"]]
    message = not_verified_message(run.run_id, report.summary(), report.failures)
    assert message.startswith(f"run {run.run_id} was not committed: its images do not all verify (5/6 images verified")
    assert run.rows[3]["s3_uri"] in message and "Rerun the same command" in message
    assert issubclass(ImagesNotVerifiedError, RuntimeError)


def test_kept_pictures_are_the_lowest_ranked_of_the_whole_night_whatever_the_order(s3, publish_run):
    run = publish_run(s3)
    rows = [dict(row) for row in run.rows]
    rows[0] = {**rows[0], "s3_uri": None}  # a row without an object still takes its place in the ranking
    expected = thumbnail_order(rows, 3)
    for order in (rows, rows[::-1], rows[2:] + rows[:2]):
        with PrecommitVerification(s3, "s3://b/m.parquet", trust_anchor_pem=None, keep_rank=thumbnail_rank, keep_max=3) as verifier:
            for row in order:
                verifier.add([row])
            report = verifier.result()
        assert report.unstored == 1 and report.ok
        assert set(report.kept) == expected - {rows[0]["asset_id"]}
    for row in rows[1:]:
        if row["asset_id"] in expected:  # the bytes handed on are the stored ones
            assert report.kept[row["asset_id"]] == boto3_client(s3).get_object(Bucket=s3.bucket, Key=split_s3_uri(row["s3_uri"])[1])["Body"].read()


def test_a_download_that_failed_for_a_passing_reason_is_tried_once_more(s3, publish_run, monkeypatch):
    run = publish_run(s3)
    with PrecommitVerification(s3, "s3://b/m.parquet", trust_anchor_pem=None) as verifier:
        real = verifier._client.get_object
        failed = []

        def flaky(**kwargs):
            if not failed:
                failed.append(kwargs["Key"])
                raise ConnectionError("connection reset by peer")
            return real(**kwargs)

        monkeypatch.setattr(verifier._client, "get_object", flaky)
        verifier.add(run.rows)
        report = verifier.result()
    assert failed and report.ok and len(report.rows) == 6


def test_threads_must_be_positive(s3):
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        PrecommitVerification(s3, "s3://b/m.parquet", trust_anchor_pem=None, threads=0)
