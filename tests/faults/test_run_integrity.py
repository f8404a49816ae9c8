"""A committed manifest is true: S3 alone says what is done, whatever crashed, was cleaned up or edited.

Each test reproduces a defect a hostile tester found, end to end: the nightly flow under
Prefect's test harness, the tiny model, the real local S3.
"""

import datetime as dt
import io
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect.testing.utilities import prefect_test_harness

from catalog.sample import write_sample_catalog
from catalog_concepts.local_services.s3_server import local_s3_settings
from catalog_concepts.provenance.c2pa_sign import load_or_create_signer
from catalog_concepts.provenance.precommit import ImagesNotVerifiedError
from catalog_concepts.provenance.verify import RunNotIntactError, verify_run
from catalog_concepts.storage.bucket import ensure_bucket
from catalog_concepts.storage.cleanup import cleanup_orphans
from catalog_concepts.storage.lease import RunInProgressError, acquire_lease, release_lease
from catalog_concepts.storage.manifest import read_manifests
from catalog_concepts.storage.settings import boto3_client, split_s3_uri
from flows.nightly import nightly_campaign
from flows.resources import ENV_C2PA_TRUST_ANCHOR

pytestmark = pytest.mark.slow
VARIANTS = 2
IMAGE_PREFIXES = ("images", "review", "rejected")


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=300):
        yield


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return str(tiny_model_dir)


@pytest.fixture
def catalog(tmp_path):
    return write_sample_catalog(tmp_path / "catalog.parquet", n=8, seed=3)


def _params(model_dir, catalog, **overrides) -> dict:
    base = dict(catalog_uri=str(catalog), model=model_dir, variants_per_sku=VARIANTS, skus_per_shard=2, batch_size=8)
    return {**base, **overrides}


def _keys(s3, prefix: str = "") -> list[str]:
    client = boto3_client(s3)
    return sorted(obj["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
                  for obj in page.get("Contents", []))


def _images(s3) -> list[str]:
    return [k for k in _keys(s3) if k.split("/")[0] in IMAGE_PREFIXES]


def _delete(s3, keys) -> None:
    client = boto3_client(s3)
    for key in keys:
        client.delete_object(Bucket=s3.bucket, Key=key)


def _read_parquet(s3, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(boto3_client(s3).get_object(Bucket=s3.bucket, Key=key)["Body"].read()))


def _manifest_key(summary) -> str:
    return split_s3_uri(summary["manifest_uri"])[1]


def test_crash_then_cleanup_then_rerun_commits_a_manifest_that_verifies(harness, s3_env, model_dir, catalog):
    """Defect 1: shards came back from Prefect's local result cache after cleanup had deleted their objects."""
    s3 = s3_env
    first = nightly_campaign(**_params(model_dir, catalog))
    # The crash: every shard staged and stored, the manifest never written.
    _delete(s3, [_manifest_key(first), *_keys(s3, "reports/")])
    swept = cleanup_orphans(s3, grace=dt.timedelta(0), apply=True)
    assert len(swept.orphans) == first["images"] + first["shards"]  # every image and every staged shard
    assert _images(s3) == []

    again = nightly_campaign(**_params(model_dir, catalog))  # same process, same Prefect home: any cache would answer
    assert again["run_id"] == first["run_id"] and again["status"] == "committed"
    assert again["resumed_shards"] == 0
    assert verify_run(s3, again["run_id"]).ok
    assert len(_images(s3)) == again["images"] == 8 * VARIANTS


def test_staged_shard_whose_objects_were_deleted_is_made_again(harness, s3_env, model_dir, catalog):
    s3 = s3_env
    first = nightly_campaign(**_params(model_dir, catalog))
    doomed = _images(s3)[:3]
    _delete(s3, [_manifest_key(first), *doomed])  # crash before commit, and three images gone

    again = nightly_campaign(**_params(model_dir, catalog))
    assert again["status"] == "committed"
    assert 1 <= again["remade_shards"] <= 3 and again["resumed_shards"] == again["shards"] - again["remade_shards"]
    assert set(doomed) <= set(_images(s3))
    assert verify_run(s3, again["run_id"]).ok


def test_committed_run_whose_objects_are_gone_fails_loudly_then_regenerates(harness, s3_env, model_dir, catalog):
    """Defect 1: "already committed; nothing to do" (rc 0) forever after its objects were deleted."""
    s3 = s3_env
    first = nightly_campaign(**_params(model_dir, catalog))
    doomed = _images(s3)[:2]
    _delete(s3, doomed)

    with pytest.raises(RunNotIntactError) as failure:
        nightly_campaign(**_params(model_dir, catalog))
    message = str(failure.value)
    assert f"run {first['run_id']} is committed" in message and "14/16 images verified" in message
    assert "object is missing" in message and f"delete {first['manifest_uri']} and rerun" in message

    # What the message says to do works: the intact shards are kept, the rest made again.
    _delete(s3, [_manifest_key(first)])
    again = nightly_campaign(**_params(model_dir, catalog))
    assert again["status"] == "committed" and again["remade_shards"] >= 1
    assert verify_run(s3, again["run_id"]).ok and set(doomed) <= set(_images(s3))


def test_images_that_do_not_verify_are_never_committed_and_the_rerun_keeps_what_did(
    harness, s3_env, model_dir, catalog, tmp_path, monkeypatch
):
    """Verification runs before the commit: a run whose images fail it leaves no manifest behind."""
    s3 = s3_env
    foreign = load_or_create_signer(tmp_path / "another-ca")  # a root the run's signer does not chain to
    anchor = tmp_path / "anchor.pem"
    anchor.write_bytes(foreign.trust_anchor_pem)
    monkeypatch.setenv(ENV_C2PA_TRUST_ANCHOR, str(anchor))
    with pytest.raises(ImagesNotVerifiedError) as failure:
        nightly_campaign(**_params(model_dir, catalog))
    message = str(failure.value)
    assert "was not committed: its images do not all verify (0/16 images verified" in message
    assert "C2PA state 'Valid', expected Trusted" in message
    assert _keys(s3, "manifests/") == [] and len(_images(s3)) == 8 * VARIANTS

    monkeypatch.delenv(ENV_C2PA_TRUST_ANCHOR)
    again = nightly_campaign(**_params(model_dir, catalog))
    assert again["status"] == "committed" and again["resumed_shards"] == again["shards"] == 4
    assert again["verified"].startswith("16/16 images verified") and "confirmed unchanged after it" in again["verified"]


def test_rerun_into_another_bucket_stores_every_image_there(harness, s3_env, local_s3_server, model_dir, catalog):
    """Defect 1: a rerun with --bucket otherbucket committed 16 rows naming objects in the first bucket."""
    first = nightly_campaign(**_params(model_dir, catalog))
    other = local_s3_settings(local_s3_server, f"test-{uuid.uuid4().hex[:24]}")
    ensure_bucket(other)
    try:
        again = nightly_campaign(**_params(model_dir, catalog, bucket=other.bucket))
        assert again["run_id"] == first["run_id"] and again["status"] == "committed"
        rows = read_manifests(other).to_pylist()
        assert len(rows) == 8 * VARIANTS
        assert {split_s3_uri(row["s3_uri"])[0] for row in rows} == {other.bucket}
        assert verify_run(other, again["run_id"]).ok
        assert len(_images(other)) == len(rows)
    finally:
        boto3_client(other).delete_bucket(Bucket=other.bucket)


def test_verify_refuses_a_row_that_names_another_bucket(harness, s3_env, local_s3_server, model_dir, catalog):
    s3 = s3_env
    first = nightly_campaign(**_params(model_dir, catalog))
    table = _read_parquet(s3, _manifest_key(first))
    moved = table.set_column(
        table.schema.get_field_index("s3_uri"), "s3_uri",
        pa.array([uri.replace(f"s3://{s3.bucket}/", "s3://elsewhere/") for uri in table.column("s3_uri").to_pylist()]),
    )
    other = local_s3_settings(local_s3_server, f"test-{uuid.uuid4().hex[:24]}")
    ensure_bucket(other)
    try:
        sink = pa.BufferOutputStream()
        pq.write_table(moved, sink)
        boto3_client(other).put_object(Bucket=other.bucket, Key=_manifest_key(first), Body=sink.getvalue().to_pybytes())
        report = verify_run(other, first["run_id"])
        assert not report.ok and len(report.failures) == 8 * VARIANTS
        assert report.failures[0].problems == (f"stored in bucket 'elsewhere', not in the manifest's bucket {other.bucket!r}",)
    finally:
        boto3_client(other).delete_bucket(Bucket=other.bucket)


def test_catalog_edit_is_a_new_run_and_changes_only_the_edited_images(harness, s3_env, model_dir, catalog):
    """Defect 2: an overwritten catalog was "already committed"; after a crash the manifest mixed old and new rows."""
    s3 = s3_env
    first = nightly_campaign(**_params(model_dir, catalog))
    _delete(s3, [_manifest_key(first)])  # crash before commit: every shard of the old catalog staged

    rows = pq.read_table(catalog).to_pylist()
    edited = {}
    for row in rows[:2]:  # two SKUs change colour; same file path
        row["color"] = "green" if row["color"] != "green" else "blue"
        edited[row["sku"]] = row["color"]
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(catalog)), catalog)

    again = nightly_campaign(**_params(model_dir, catalog))
    assert again["status"] == "committed" and again["run_id"] != first["run_id"]
    assert again["resumed_shards"] == 0  # nothing of the old catalog's run is reused under the new run
    new_rows = [row for row in read_manifests(s3).to_pylist() if row["run_id"] == again["run_id"]]
    assert len(new_rows) == 8 * VARIANTS
    for row in new_rows:
        if row["sku"] in edited:
            assert f" {edited[row['sku']]} " in row["prompt"]

    # The images' identities: exactly the edited SKUs' requests differ from the first run's.
    old_staged = [r for key in _keys(s3, f"staging/run={first['run_id']}/") for r in _read_parquet(s3, key).to_pylist()]
    old = {(r["sku"], r["variant"]): r["request_sha256"] for r in old_staged}
    new = {(r["sku"], r["variant"]): r["request_sha256"] for r in new_rows}
    assert old.keys() == new.keys()
    changed = {sku for (sku, _), digest in new.items() if old[(sku, _)] != digest}
    assert changed == set(edited)


def test_second_process_on_the_same_run_is_refused_before_generating(harness, s3_env, model_dir, catalog):
    """Defect 9: the loser of two racing runs failed after a full generation with a 590-line ObjectConflictError."""
    s3 = s3_env
    client = boto3_client(s3)
    held = acquire_lease(client, s3.bucket, "race-run-1")  # the other, live process
    with pytest.raises(RunInProgressError, match="run race-run-1 is already in progress"):
        nightly_campaign(**_params(model_dir, catalog, run_id="race-run-1"))
    assert _images(s3) == [] and _keys(s3, "staging/") == []
    release_lease(client, s3.bucket, held)
    assert nightly_campaign(**_params(model_dir, catalog, run_id="race-run-1"))["status"] == "committed"
    assert _keys(s3, "leases/") == []  # released at the end of the run


def test_report_lost_after_commit_is_written_by_the_rerun(harness, s3_env, model_dir, catalog):
    """Defect 6: the report task failed after the commit and every rerun said "already committed" without one."""
    s3 = s3_env
    first = nightly_campaign(**_params(model_dir, catalog))
    report_key = split_s3_uri(first["report_uri"])[1]
    _delete(s3, [report_key])  # the state a failed report task leaves

    again = nightly_campaign(**_params(model_dir, catalog))
    assert again["status"] == "already_committed" and again["verified"].startswith("16/16 images verified")
    assert again["report_uri"] == first["report_uri"]
    assert report_key in _keys(s3, "reports/")
