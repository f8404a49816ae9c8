"""A committed run in the real local S3: labelled PNGs under their decision's prefix and its manifest."""

import datetime as dt
import io
import json

import numpy as np
import pytest

from catalog_concepts.provenance.xmp import labelled_png, xmp_packet
from catalog_concepts.storage import keys
from catalog_concepts.storage.manifest import commit_manifest, rows_to_table
from catalog_concepts.storage.publish import put_many
from catalog_concepts.storage.settings import S3Settings, boto3_client

RUN_DATE = dt.date(2026, 11, 20)
KEY_BY_DECISION = {"publish_labeled_preview": keys.image_key, "human_review": keys.review_key, "reject": keys.rejected_key}
DROPPED = "dropped"  # store_run marker: policy said human_review, per-SKU selection dropped it
STATUS_BY_DECISION = {"publish_labeled_preview": "not_required", "human_review": "pending", "reject": "not_applicable"}


def manifest_row(run_id: str, sku: str, variant: int, decision: str, key: str, sha256: str, size: int, bucket: str) -> dict:
    """A complete manifest row for one stored image."""
    return {
        "run_id": run_id, "flow_run_id": None, "run_date": RUN_DATE,
        "asset_id": keys.asset_id(run_id, sku, variant), "sku": sku, "catalog_row_hash": "c" * 64,
        "catalog_uri": "catalog/samples/sample_catalog.parquet", "variant": variant,
        "prompt": f"a product photo of {sku}", "negative_prompt": "blurry", "template_id": "t", "template_version": "1",
        "model_id": "tiny", "weights_sha256": "w" * 64, "pipeline_class": "PixArtAlphaPipeline",
        "scheduler_class": "DDIMScheduler", "scheduler_config": json.dumps({"clip_sample": False}),
        "steps": 4, "guidance_scale": 3.0, "seed": variant, "generator_device": "cpu", "dtype": "float32",
        "width": 32, "height": 32, "torch_version": "2.13.0", "diffusers_version": "0.42.1",
        "transformers_version": "5.24.0", "device_name": "cpu", "denoiser_evals": 8, "compute_seconds": 0.1,
        "scores": {"sharpness": 0.5 + variant / 10, "saturation": 0.2}, "scorer_versions": {"sharpness": "1", "saturation": "1"},
        "decision": decision, "rule_ids": ["R-TEST"] if decision != "publish_labeled_preview" else [],
        "decision_reasons": ["test rule matched"] if decision != "publish_labeled_preview" else [],
        "policy_sha256": "p" * 64, "review_status": STATUS_BY_DECISION[decision],
        "s3_uri": f"s3://{bucket}/{key}", "sha256": sha256, "bytes": size, "phash": "0" * 16,
        "digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
        "created_at": dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC),
        "category": "mug", "kept": True,
    }


def _manifest_row_for(run_id: str, sku: str, decision: str, key: str, put, bucket: str) -> dict:
    if decision != DROPPED:
        return manifest_row(run_id, sku, 0, decision, key, put.sha256_hex, put.bytes, bucket)
    # What the worker writes for a candidate per-SKU selection dropped: audit only, nobody reviews it.
    row = manifest_row(run_id, sku, 0, "human_review", key, put.sha256_hex, put.bytes, bucket)
    return {**row, "kept": False, "review_status": "not_applicable", "drop_reason": "below top-1 of SKU"}


def store_run(s3: S3Settings, run_id: str, decisions: list[str], seed: int = 0) -> list[dict]:
    """Store one labelled random PNG per decision (sku i, variant 0) and commit the run's manifest."""
    rng = np.random.default_rng(seed)
    client = boto3_client(s3)
    items, plan = [], []
    for i, decision in enumerate(decisions):
        sku = f"SKU-{run_id}-{i}"
        pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)  # (H, W, 3)
        asset = keys.asset_id(run_id, sku, 0)
        body = labelled_png(pixels, xmp_packet(system="catalog-concepts", system_version="tiny", prompt=sku, asset_id=asset))
        key = (keys.rejected_key if decision == DROPPED else KEY_BY_DECISION[decision])(run_id, sku, 0)
        items.append((key, body, "image/png", {"asset-id": asset}))
        plan.append((sku, decision, key))
    puts = put_many(client, s3.bucket, items)
    rows = [_manifest_row_for(run_id, sku, decision, key, put, s3.bucket) for (sku, decision, key), put in zip(plan, puts, strict=True)]
    commit_manifest(client, s3.bucket, keys.manifest_key(RUN_DATE, run_id), rows_to_table(rows))
    return rows


@pytest.fixture
def committed_run(s3):
    """A run of 7 images: 4 awaiting review, 1 published, 1 rejected by the policy, 1 dropped by selection."""
    decisions = ["human_review", "human_review", "human_review", "human_review", "publish_labeled_preview", "reject", DROPPED]
    return store_run(s3, "2026-11-20-run", decisions)


def csv_bytes(rows: list[dict]) -> bytes:
    """A decisions CSV as a reviewer's spreadsheet would export it."""
    import csv

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["asset_id", "decision", "reviewer", "note"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


@pytest.fixture
def run_store():
    """store_run, for tests that need more than one run."""
    return store_run


@pytest.fixture
def decisions_csv():
    """csv_bytes, for tests that write decision files."""
    return csv_bytes
