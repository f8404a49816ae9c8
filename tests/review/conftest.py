"""A committed run in the real local S3: labelled PNGs under their decision's prefix and its manifest."""

import datetime as dt
import io

import numpy as np
import pytest

from catalog_concepts.provenance.xmp import labelled_png, xmp_packet
from catalog_concepts.storage import keys
from catalog_concepts.storage.manifest import commit_manifest, rows_to_table
from catalog_concepts.storage.publish import put_many
from catalog_concepts.storage.settings import S3Settings, boto3_client

from example_rows import example_judgement, example_origin, example_row, stored_at

RUN_DATE = dt.date(2026, 11, 20)
KEY_BY_DECISION = {"publish_labeled_preview": keys.image_key, "human_review": keys.review_key, "reject": keys.rejected_key}
DROPPED = "dropped"  # store_run marker: policy said human_review, per-SKU selection dropped it
STATUS_BY_DECISION = {"publish_labeled_preview": "not_required", "human_review": "pending", "reject": "not_applicable"}


def _manifest_row_for(run_id: str, sku: str, decision: str, put, bucket: str) -> dict:
    """A complete manifest row for one stored image; DROPPED is what the worker writes for a candidate
    per-SKU selection dropped: the policy said human_review, nobody reviews it (audit only)."""
    dropped = decision == DROPPED
    judgement = example_judgement(
        "human_review" if dropped else decision, scores={"sharpness": 0.5, "saturation": 0.2},
        scorer_versions={"sharpness": "1", "saturation": "1"}, phash="0" * 16,
        review_status="not_applicable" if dropped else STATUS_BY_DECISION[decision],
        kept=not dropped, drop_reason="below top-1 of SKU" if dropped else None,
    )
    return example_row(origin=example_origin(run_id, sku, 0, RUN_DATE, category="mug", seed=0), judgement=judgement,
                       stored=stored_at(bucket, put), created_at=dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC))


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
    rows = [_manifest_row_for(run_id, sku, decision, put, s3.bucket) for (sku, decision, key), put in zip(plan, puts, strict=True)]
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
