"""End to end: the nightly flow under Prefect's test harness against the real local S3."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from catalog.sample import BAD_ROW_KINDS, SAMPLE_CATALOG_PATH, SAMPLE_GOOD_ROWS
from catalog_concepts.storage.manifest import read_manifests
from catalog_concepts.storage.settings import boto3_client
from flows.nightly import nightly_campaign

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]

VARIANTS = 2


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return str(tiny_model_dir)


def _params(model_dir, **overrides):
    base = dict(
        catalog_uri=str(SAMPLE_CATALOG_PATH), allow_sample_catalog=True, model=model_dir, variants_per_sku=VARIANTS,
        max_bad_fraction=0.25, skus_per_shard=16, batch_size=8,
    )
    return {**base, **overrides}


def _keys(s3) -> list[str]:
    client = boto3_client(s3)
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


def test_sample_catalog_end_to_end_then_rerun_adds_nothing(harness, s3_env, model_dir):
    s3 = s3_env
    summary = nightly_campaign(**_params(model_dir))
    assert summary["status"] == "committed"
    assert summary["images"] == SAMPLE_GOOD_ROWS * VARIANTS
    assert summary["quarantined"] == len(BAD_ROW_KINDS)

    # The manifest lists every candidate once, with an object whose bytes match its digest.
    manifest = read_manifests(s3).to_pylist()
    assert len(manifest) == SAMPLE_GOOD_ROWS * VARIANTS
    assert len({row["asset_id"] for row in manifest}) == len(manifest)
    client = boto3_client(s3)
    import hashlib

    for row in manifest[:10]:
        key = row["s3_uri"].removeprefix(f"s3://{s3.bucket}/")
        body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == row["sha256"]
        assert b"trainedAlgorithmicMedia" in body  # labelled as synthetic inside the file
    # Routing by prefix follows the decision for kept candidates; dropped ones are stored unpublished.
    prefixes = {"publish_labeled_preview": "images/", "human_review": "review/", "reject": "rejected/"}
    for row in manifest:
        prefix = prefixes[row["decision"]] if row["kept"] else "rejected/"
        assert row["s3_uri"].startswith(f"s3://{s3.bucket}/{prefix}")
        assert row["kept"] == (row["drop_reason"] is None) and row["selection_rank"] >= 1
        assert json.loads(row["policy_inputs"])["sku"] == row["sku"]
        assert {"risk", "diversity", "alignment"} <= set(dict(row["scorer_versions"]))
        assert row["policy_sha256"] and row["weights_sha256"] and row["denoiser_evals"] > 0
    claims = [row for row in manifest if row["decision"] != "reject"]
    assert claims, "the tiny model's images should not all be rejected"

    # The run's progress artifact, moved from the shards' threads batch by batch, ends with every image counted.
    with get_client(sync_client=True) as api:
        (progress,) = api.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["run-progress"])),
                                         sort=ArtifactSort.CREATED_DESC, limit=1)
    assert (progress.data, progress.description) == (100.0, f"{len(manifest)} / {len(manifest)} images")

    # Quarantined rows carry their reasons.
    quarantine_key = summary["quarantine_uri"].removeprefix(f"s3://{s3.bucket}/")
    quarantined = pq.read_table(io.BytesIO(client.get_object(Bucket=s3.bucket, Key=quarantine_key)["Body"].read()))
    assert quarantined.num_rows == len(BAD_ROW_KINDS)
    assert all(reasons for reasons in quarantined.column("reasons").to_pylist())

    # A rerun of the same run adds no objects and no rows.
    before = _keys(s3)
    again = nightly_campaign(**_params(model_dir))
    assert again["status"] == "already_committed" and again["run_id"] == summary["run_id"]
    assert _keys(s3) == before
    assert read_manifests(s3).num_rows == len(manifest)


def test_a_guidance_interval_is_a_run_choice_recorded_per_image(harness, s3_env, model_dir):
    """guidance_interval reaches every image: another run id, the manifest column, one branch at unguided steps."""
    sampler = {"scheduler": "dpmsolver++", "steps": 4}  # its first step is above sigma 5 on the tiny model's schedule
    plain = nightly_campaign(**_params(model_dir, **sampler))
    limited = nightly_campaign(**_params(model_dir, **sampler, guidance_interval="0,5"))
    assert (plain["status"], limited["status"]) == ("committed", "committed") and limited["run_id"] != plain["run_id"]
    rows = read_manifests(s3_env).to_pylist()
    by_run = {run: [r for r in rows if r["run_id"] == run] for run in (plain["run_id"], limited["run_id"])}
    assert {r["guidance_interval"] for r in by_run[plain["run_id"]]} == {None}
    assert {r["guidance_interval"] for r in by_run[limited["run_id"]]} == {"0,5"}
    assert {r["denoiser_evals"] for r in by_run[plain["run_id"]]} == {4 * 2}
    assert {r["denoiser_evals"] for r in by_run[limited["run_id"]]} == {4 * 2 - 1}


def test_too_many_bad_rows_fail_the_run_with_the_quarantine_kept(harness, s3_env, model_dir):
    from catalog.validate import CatalogRejectedError

    s3 = s3_env
    with pytest.raises(CatalogRejectedError, match="max_bad_fraction"):
        nightly_campaign(**_params(model_dir, max_bad_fraction=0.05))
    keys = _keys(s3)
    assert [k for k in keys if k.startswith("quarantine/")], "the quarantine is written even when the run fails"
    assert not [k for k in keys if k.split("/")[0] in ("images", "review", "rejected", "manifests")]


def test_killed_run_resumes_without_regenerating_or_duplicating(harness, s3_env, model_dir, tmp_path):
    """SIGKILL a real run after some shards are staged; the rerun reuses them and commits once."""
    s3 = s3_env
    command = [
        sys.executable, "-m", "catalog_concepts.cli.main", "run", "--catalog", str(SAMPLE_CATALOG_PATH), "--model", model_dir,
        "--limit", "40", "--skus-per-shard", "2", "--batch-size", "4", "--seed", "7", "--max-bad-fraction", "0.25",
    ]
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-killed"), "CONCEPTS_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)  # the doomed run starts its own local Prefect API
    process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # At load 15 on 2 cores the CLI took ~90 s to its flow's start and ~185 s to a stored shard.
        deadline = time.monotonic() + 900
        while len(_staged(s3)) < 3:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the run staged no shards in time"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)  # also when an assertion failed: never leave the run behind
        process.wait(timeout=60)
    staged_before = _staged(s3)
    assert not [k for k in _keys(s3) if k.startswith("manifests/")], "killed before its commit"

    summary = nightly_campaign(**_params(model_dir, limit=40, skus_per_shard=2, batch_size=4, seed=7))
    assert summary["status"] == "committed"
    assert summary["shards"] == 20
    assert summary["resumed_shards"] >= len(staged_before) >= 3
    manifest = read_manifests(s3).to_pylist()
    assert len(manifest) == len({row["asset_id"] for row in manifest}) == 40 * VARIANTS
    images = [k for k in _keys(s3) if k.split("/")[0] in ("images", "review", "rejected")]
    assert len(images) == 40 * VARIANTS  # nothing stored twice


def test_crash_after_images_before_staging_resumes_with_the_stored_signed_images(harness, s3_env, model_dir, tmp_path, monkeypatch):
    """Images stored, then a crash before staging or commit; the rerun signs anew (another key, fresh
    signature) yet accepts the stored images as the same images and commits exactly once."""
    s3 = s3_env
    client = boto3_client(s3)
    monkeypatch.setenv("CONCEPTS_HOME", str(tmp_path / "machine-a"))
    params = _params(model_dir, limit=6, seed=11)
    first = nightly_campaign(**params)
    images_before = {k: client.head_object(Bucket=s3.bucket, Key=k)["ETag"] for k in _keys(s3) if k.split("/")[0] in ("images", "review", "rejected")}
    labels_before = {row["asset_id"]: row["c2pa_manifest_label"] for row in read_manifests(s3).to_pylist()}
    # The crash: nothing after the image PUTs survived.
    for key in _keys(s3):
        if key.split("/")[0] in ("staging", "manifests", "reports"):
            client.delete_object(Bucket=s3.bucket, Key=key)

    monkeypatch.setenv("CONCEPTS_HOME", str(tmp_path / "machine-b"))  # another signing key
    # Another process has no cached task results: the shards really run again and re-sign.
    with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: True}):
        again = nightly_campaign(**params)
    assert again["status"] == "committed" and again["run_id"] == first["run_id"]
    assert again["resumed_shards"] == 0 and again["images"] == 6 * VARIANTS
    images_after = {k: client.head_object(Bucket=s3.bucket, Key=k)["ETag"] for k in _keys(s3) if k.split("/")[0] in ("images", "review", "rejected")}
    assert images_after == images_before  # the stored images were kept, not replaced or duplicated
    assert again["verified"].startswith(f"{6 * VARIANTS}/{6 * VARIANTS} images verified")
    # The rows name the stored signatures, not the fresh ones the rerun made and threw away.
    labels_after = {row["asset_id"]: row["c2pa_manifest_label"] for row in read_manifests(s3).to_pylist()}
    assert labels_after == labels_before and None not in labels_after.values()


def _staged(s3) -> list[str]:
    return [k for k in _keys(s3) if k.startswith("staging/")]
