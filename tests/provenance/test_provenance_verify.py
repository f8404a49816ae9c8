"""verify_run against the real local S3: a published run verifies 100%; every kind of damage is caught."""

from __future__ import annotations

import pytest

from catalog_concepts.provenance.verify import resolve_manifest_key, verify_run
from catalog_concepts.storage.settings import boto3_client, split_s3_uri


def test_published_run_verifies_after_the_s3_round_trip(s3, publish_run):
    run = publish_run(s3)
    report = verify_run(s3, run.run_id, trust_anchor_pem=run.signer.trust_anchor_pem)
    assert report.ok, [c.problems for c in report.failures]
    assert len(report.rows) == len(run.rows) == 6 and report.unstored == 0
    assert {c.c2pa_state for c in report.rows} == {"Trusted"}
    assert all(c.sha256_ok and c.xmp_ok for c in report.rows)
    assert sorted(c.asset_id for c in report.rows) == sorted(r["asset_id"] for r in run.rows)
    print(f"\nverify: {report.summary()}")
    # Without the anchor the same chain reads as Valid (signature fine, signer not in a trust list).
    untrusted = verify_run(s3, f"s3://{s3.bucket}/{run.manifest_key}")
    assert untrusted.ok and {c.c2pa_state for c in untrusted.rows} == {"Valid"}


def test_overwritten_object_fails_its_digest_and_signature(s3, publish_run, signer):
    run = publish_run(s3)
    victim = run.rows[1]
    bucket, key = split_s3_uri(victim["s3_uri"])
    other = boto3_client(s3).get_object(Bucket=bucket, Key=split_s3_uri(run.rows[0]["s3_uri"])[1])["Body"].read()
    boto3_client(s3).put_object(Bucket=bucket, Key=key, Body=other)  # an overwrite behind the protocol's back
    report = verify_run(s3, run.manifest_key)
    assert not report.ok
    (bad,) = report.failures
    assert bad.asset_id == victim["asset_id"] and not bad.sha256_ok
    assert not bad.xmp_ok  # the XMP names another asset
    assert any("C2PA manifest label" in p for p in bad.problems)


def test_kept_bytes_are_those_of_asked_for_images_that_verified(s3, publish_run):
    # The contact sheet shows what verification downloaded; a damaged image is never handed on.
    run = publish_run(s3)
    client = boto3_client(s3)
    bucket, damaged_key = split_s3_uri(run.rows[1]["s3_uri"])
    client.put_object(Bucket=bucket, Key=damaged_key, Body=b"not the image")
    asked = {run.rows[0]["asset_id"], run.rows[1]["asset_id"], "not-in-the-run"}
    report = verify_run(s3, run.run_id, keep=asked)
    assert set(report.kept) == {run.rows[0]["asset_id"]}
    stored = client.get_object(Bucket=bucket, Key=split_s3_uri(run.rows[0]["s3_uri"])[1])["Body"].read()
    assert report.kept[run.rows[0]["asset_id"]] == stored
    assert verify_run(s3, run.run_id).kept == {}  # nothing asked, nothing held


def test_deleted_object_is_reported_not_skipped(s3, publish_run):
    run = publish_run(s3)
    bucket, key = split_s3_uri(run.rows[2]["s3_uri"])
    boto3_client(s3).delete_object(Bucket=bucket, Key=key)
    report = verify_run(s3, run.run_id)
    (bad,) = report.failures
    assert bad.asset_id == run.rows[2]["asset_id"] and bad.problems == ("object is missing",)


def test_unsigned_run_fails_unless_c2pa_is_not_required(s3, publish_run):
    run = publish_run(s3, sign=False)
    strict = verify_run(s3, run.run_id)
    assert not strict.ok and {c.c2pa_state for c in strict.rows} == {"missing"}
    relaxed = verify_run(s3, run.run_id, require_c2pa=False)
    assert relaxed.ok and {c.c2pa_state for c in relaxed.rows} == {None}


def test_a_signer_outside_the_trust_anchor_is_not_trusted(s3, publish_run, tmp_path):
    from catalog_concepts.provenance.local_ca import generate_chain

    run = publish_run(s3)
    _, _, foreign_root = generate_chain()
    report = verify_run(s3, run.run_id, trust_anchor_pem=foreign_root)
    assert not report.ok and {c.c2pa_state for c in report.rows} == {"Valid"}


@pytest.mark.parametrize(
    "ref, error",
    [("", "expected a run id"), ("../etc", "invalid run_id"), ("s3://b", "needs a bucket and a key"),
     ("s3://b/images/x.png", "not a manifest key"), ("no-such-run", "found none")],
)
def test_bad_references_fail_with_the_accepted_forms(s3, ref, error):
    with pytest.raises((ValueError, LookupError), match=error):
        resolve_manifest_key(s3, ref)
