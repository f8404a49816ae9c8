"""query: DuckDB over the committed manifests (and quarantine) read through pyarrow from the real local S3."""

from __future__ import annotations

import pyarrow as pa
import pytest

from provenance.query import EXAMPLES, query
from storage.keys import quarantine_key
from storage.manifest import write_quarantine
from storage.settings import boto3_client


@pytest.fixture
def two_runs(s3, publish_run):
    first = publish_run(s3, run_id="2026-11-26-a")
    second = publish_run(s3, run_id="2026-11-26-b", sign=False)
    publish_run(s3, run_id="2026-11-26-crashed", commit=False)  # uncommitted: must stay invisible
    quarantined = pa.table({"sku": ["BAD-1", "BAD-2"], "reasons": [["sku is null"], ["color not allowed", "sku is null"]],
                            "row_index": [3, 9]})
    write_quarantine(boto3_client(s3), s3.bucket, quarantine_key("2026-11-26", first.run_id), quarantined)
    return first, second


def test_every_example_runs_and_answers(s3, two_runs):
    first, second = two_runs
    answers = {name: query(s3, sql).to_pylist() for name, sql in EXAMPLES.items()}

    by_category = {(r["category"], r["decision"]): r["images"] for r in answers["decisions_by_category_per_night"]}
    # 3 SKUs (bag, chair, lamp) x 2 variants x 2 committed runs; variant 0 published, variant 1 to review.
    assert by_category == {(c, d): 2 for c in ("bag", "chair", "lamp") for d in ("publish_labeled_preview", "human_review")}
    backlog = answers["review_backlog"]
    assert sum(r["pending"] for r in backlog) == 6 and {r["run_id"] for r in backlog} == {first.run_id, second.run_id}
    compute = {r["run_id"]: r for r in answers["compute_per_run"]}
    assert set(compute) == {first.run_id, second.run_id}  # the crashed run is invisible
    assert compute[first.run_id]["images"] == 6
    assert compute[first.run_id]["denoiser_evals"] == sum(r["denoiser_evals"] for r in first.rows)
    (model,) = answers["images_per_model_version"]
    assert model["images"] == 12 and model["runs"] == 2 and model["model_id"] == "tiny-random-pixart"
    unsigned = answers["unsigned_or_unstored"]
    assert {r["run_id"] for r in unsigned} == {second.run_id} and len(unsigned) == 6
    reasons = {r["reason"]: r["rows"] for r in answers["quarantine_reasons"]}
    assert reasons == {"sku is null": 2, "color not allowed": 1}


def test_ad_hoc_sql_sees_map_columns_and_cannot_touch_files(s3, two_runs):
    first, _ = two_runs
    table = query(s3, f"SELECT asset_id, scores['sharpness'] AS sharpness FROM manifests WHERE run_id = '{first.run_id}'")
    assert table.num_rows == 6 and all(v is not None for v in table.column("sharpness").to_pylist())
    with pytest.raises(Exception, match="(?i)permission|disabled"):
        query(s3, "SELECT * FROM read_csv('/etc/hostname')")
    with pytest.raises(ValueError, match="decisions_by_category_per_night"):
        query(s3, "  ")


def test_empty_bucket_answers_with_no_rows(s3):
    assert query(s3, EXAMPLES["compute_per_run"]).num_rows == 0
    assert query(s3, EXAMPLES["quarantine_reasons"]).num_rows == 0
