"""query: DuckDB over lazy pyarrow datasets of the manifests and the review log, in the real local S3."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pyarrow as pa
import pytest

from catalog_concepts.provenance.query import EXAMPLES, QueryError, query, query_at
from catalog_concepts.review.ingest import ingest_decisions
from catalog_concepts.review.log import read_review_log
from catalog_concepts.review.queue import awaiting_review, decided_index, manifest_index
from catalog_concepts.storage.keys import quarantine_key
from catalog_concepts.storage.manifest import read_manifests, write_quarantine
from catalog_concepts.storage.settings import boto3_client

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def reviewed(s3, nights_bucket):
    """Three nights; on the first, ana approved candidate 0 and bo rejected candidate 1; one quarantine file."""
    first = nights_bucket["2026-11-24-n"]
    result = ingest_decisions(s3, [
        {"asset_id": first[0]["asset_id"], "decision": "approve", "reviewer": "ana", "note": "good"},
        {"asset_id": first[1]["asset_id"], "decision": "reject", "reviewer": "bo", "note": "wrong colour"},
    ], "s3://elsewhere/decisions.csv", now=NOW)
    assert len(result.accepted) == 2 and not result.rejected
    quarantined = pa.table({"sku": ["BAD-1", "BAD-2"], "reasons": [["sku is null"], ["color not allowed", "sku is null"]],
                            "row_index": [3, 9]})
    write_quarantine(boto3_client(s3), s3.bucket, quarantine_key("2026-11-24", "2026-11-24-n"), quarantined)
    return nights_bucket


def test_every_example_runs_and_answers(s3, reviewed):
    answers = {name: query(s3, sql).to_pylist() for name, sql in EXAMPLES.items()}

    by_category = {(r["run_date"], r["category"], r["decision"]): (r["kept"], r["dropped_by_selection"])
                   for r in answers["decisions_by_category_per_night"]}
    night = dt.date(2026, 11, 25)
    # The dropped candidate (policy: human_review, selection: dropped) is counted as dropped, not as review.
    assert by_category[(night, "lamp", "human_review")] == (1, 1)
    assert sum(kept for kept, _ in by_category.values()) == 15 and sum(d for _, d in by_category.values()) == 3
    assert sum(kept for (_, _, decision), (kept, _) in by_category.items() if decision == "human_review") == 9

    backlog = Counter()
    for r in answers["review_backlog"]:
        backlog[r["run_id"]] += r["pending"]
    # Reviews are seen at once: 3 pending per night, 2 of the first night's decided; never the dropped one.
    assert backlog == {"2026-11-24-n": 1, "2026-11-25-n": 3, "2026-11-26-n": 3}

    status = {(r["run_date"], r["status"]): r["images"] for r in answers["status_per_night"]}
    assert status == {
        (dt.date(2026, 11, 24), "approved"): 1, (dt.date(2026, 11, 24), "dropped"): 1,
        (dt.date(2026, 11, 24), "pending"): 1, (dt.date(2026, 11, 24), "published"): 1,
        (dt.date(2026, 11, 24), "rejected"): 2,
        **{(dt.date(2026, 11, d), s): n for d in (25, 26)
           for s, n in (("dropped", 1), ("pending", 3), ("published", 1), ("rejected", 1))},
    }
    assert answers["verdicts_by_reviewer"] == [
        {"decided_date": NOW.date(), "reviewer": "ana", "decision": "approve", "images": 1},
        {"decided_date": NOW.date(), "reviewer": "bo", "decision": "reject", "images": 1},
    ]
    compute = {r["run_id"]: r for r in answers["compute_per_run"]}
    assert set(compute) == set(reviewed)  # the crashed run committed nothing: invisible
    assert compute["2026-11-25-n"]["images"] == 6 and compute["2026-11-25-n"]["kept"] == 5
    (model,) = answers["images_per_model_version"]
    assert (model["images"], model["kept"], model["runs"]) == (18, 15, 3)
    assert model["first_night"] == dt.date(2026, 11, 24) and model["last_night"] == dt.date(2026, 11, 26)
    assert len(answers["unsigned_or_unstored"]) == 18  # the stand-in bodies carry no C2PA manifest
    reasons = {r["reason"]: r["rows"] for r in answers["quarantine_reasons"]}
    assert reasons == {"sku is null": 2, "color not allowed": 1}


def test_asset_status_says_who_decided_and_when(s3, reviewed):
    first = {r["asset_id"]: r for r in reviewed["2026-11-24-n"]}
    rows = query(s3, "SELECT * FROM asset_status WHERE run_id = '2026-11-24-n' ORDER BY sku").to_pylist()
    got = [(r["sku"].rsplit("-", 1)[1], r["status"], r["decided_by"]) for r in rows]
    assert got == [("0", "approved", "ana"), ("1", "rejected", "bo"), ("2", "pending", None),
                   ("3", "published", "policy"), ("4", "rejected", "policy"), ("5", "dropped", "selection")]
    approved, rejected, pending, published, _, dropped = rows
    assert approved["decided_at"] == NOW and approved["note"] == "good"
    assert approved["s3_uri"].startswith(f"s3://{s3.bucket}/images/")  # the promoted copy
    assert rejected["s3_uri"] == first[rejected["asset_id"]]["s3_uri"]  # stays under review/ for audit
    assert pending["decided_at"] is None and pending["created_at"] == first[pending["asset_id"]]["created_at"]
    assert published["decided_at"] == first[published["asset_id"]]["created_at"]
    assert dropped["kept"] is False and dropped["decision"] == "human_review"


def test_review_log_is_a_table_with_its_partition(s3, reviewed):
    rows = query(s3, "SELECT asset_id, decision, reviewer, decided_date, source_row FROM review_log ORDER BY reviewer")
    assert rows.column("reviewer").to_pylist() == ["ana", "bo"]
    assert rows.column("decided_date").to_pylist() == [NOW.date()] * 2


def test_a_one_night_question_scans_only_that_nights_manifest(s3, reviewed, counting_filesystem):
    filesystem, opened = counting_filesystem(s3)
    table = query_at(filesystem, s3.bucket,
                     "SELECT status, count(*) AS n FROM asset_status WHERE run_date = DATE '2026-11-25' GROUP BY status")
    assert dict(zip(table.column("status").to_pylist(), table.column("n").to_pylist(), strict=True)) == {
        "dropped": 1, "pending": 3, "published": 1, "rejected": 1}
    manifests = {path.split("run_date=")[1].split("/")[0]: n for path, n in opened.items() if "/manifests/" in path}
    # The newest footers (all three here) are read once for the schema; only the night asked for is scanned.
    assert manifests["2026-11-24"] == 1 and manifests["2026-11-26"] == 1
    assert manifests["2026-11-25"] >= 2


def test_ad_hoc_sql_sees_map_columns_and_cannot_touch_files(s3, reviewed):
    table = query(s3, "SELECT asset_id, scores['sharpness'] AS sharpness FROM manifests WHERE run_id = '2026-11-25-n'")
    assert table.num_rows == 6 and all(v == 0.5 for v in table.column("sharpness").to_pylist())
    with pytest.raises(QueryError, match="(?i)permission|disabled"):
        query(s3, "SELECT * FROM read_csv('/etc/hostname')")
    with pytest.raises(ValueError, match="decisions_by_category_per_night"):
        query(s3, "  ")


def test_a_bad_column_names_duckdbs_reason_and_every_table_with_its_columns(s3, reviewed):
    with pytest.raises(QueryError) as caught:
        query(s3, "SELECT decison FROM manifests")
    message = str(caught.value)
    assert 'decison' in message and "Tables you can query:" in message
    lines = {line.split(":")[0].strip(): line for line in message.splitlines() if line.startswith("  ")}
    assert set(lines) == {"manifests", "review_log", "asset_status", "quarantine"}
    assert "decision" in lines["manifests"] and "decided_date" in lines["review_log"] and "status" in lines["asset_status"]


def test_empty_bucket_answers_with_no_rows(s3):
    for name, sql in EXAMPLES.items():
        assert query(s3, sql).num_rows == 0, name


def test_the_sql_backlog_is_the_review_queue(s3, reviewed):
    # The issue this answers: review_backlog said 6 pending while the queue said 4.
    queue = awaiting_review(manifest_index(read_manifests(s3)), decided_index(read_review_log(s3)))
    pending = query(s3, "SELECT asset_id FROM asset_status WHERE status = 'pending'").column("asset_id").to_pylist()
    assert sorted(pending) == sorted(row["asset_id"] for row in queue) and len(pending) == 7
