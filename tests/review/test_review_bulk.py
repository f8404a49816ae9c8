"""Bulk review: a whole rule group of one run decided from the shell (`ops review approve|reject`), against the real
local S3, through typer's runner; and `ops review-queue` with its reasons, rules, thumbnail links and filters."""

import json
import urllib.request

import pytest
from typer.testing import CliRunner

from catalog_concepts.cli.ops_cmds import app
from catalog_concepts.reports.publish import report_key
from catalog_concepts.review.bulk import bulk_source, group_decisions, select_waiting
from catalog_concepts.review.log import read_review_log
from catalog_concepts.storage.settings import boto3_client

WAITING = [
    {"asset_id": "a1", "run_id": "r1", "rule_ids": ["DMG-001"], "category": "mug"},
    {"asset_id": "a2", "run_id": "r1", "rule_ids": ["DMG-001", "ALIGN-001"], "category": "lamp"},
    {"asset_id": "a3", "run_id": "r1", "rule_ids": ["ALIGN-001"], "category": "mug"},
    {"asset_id": "a4", "run_id": "r2", "rule_ids": ["DMG-001"], "category": "mug"},
]


@pytest.mark.parametrize("run, rule, category, expected", [
    ("r1", "DMG-001", None, ["a1", "a2"]),
    ("r1", "DMG-001", "mug", ["a1"]),
    ("r1", "ALIGN-001", None, ["a2", "a3"]),
    ("r2", "ALIGN-001", None, []),
    (None, "DMG-001", None, ["a1", "a2", "a4"]),
    (None, None, "lamp", ["a2"]),
])
def test_select_waiting_by_run_rule_and_category(run, rule, category, expected):
    assert [r["asset_id"] for r in select_waiting(WAITING, run_id=run, rule_id=rule, category=category)] == expected


def test_group_decisions_are_decisions_file_rows():
    assert group_decisions(WAITING[:2], "reject", " ana ", "blurry") == [
        {"asset_id": "a1", "decision": "reject", "reviewer": "ana", "note": "blurry"},
        {"asset_id": "a2", "decision": "reject", "reviewer": "ana", "note": "blurry"},
    ]
    with pytest.raises(ValueError, match="approve, reject"):
        group_decisions(WAITING, "publish", "ana")
    with pytest.raises(ValueError, match="--reviewer"):
        group_decisions(WAITING, "approve", "  ")
    assert bulk_source("approve", "r1", "DMG-001", None) == "cli:ops review approve --run r1 --rule DMG-001"


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_queue_shows_reasons_rules_and_a_thumbnail_link_with_filters(s3_env, run_store):
    run_store(s3_env, "2026-11-20-qa", ["human_review", "human_review", "publish_labeled_preview"])
    run_store(s3_env, "2026-11-20-qb", ["human_review"], seed=1)
    runner = CliRunner()
    every = _lines(runner.invoke(app, ["review-queue"]).output)
    assert len(every) == 3
    line = every[0]
    assert line["rule_ids"] == ["R-TEST"] and line["reasons"] == ["test rule matched"] and line["category"] == "mug"
    # The thumbnail link is a presigned GET of the image itself.
    with urllib.request.urlopen(line["thumbnail"], timeout=30) as response:
        assert response.read()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [r["run_id"] for r in _lines(runner.invoke(app, ["review-queue", "--run", "2026-11-20-qb"]).output)] == ["2026-11-20-qb"]
    assert len(_lines(runner.invoke(app, ["review-queue", "--rule", "R-TEST", "--category", "mug"]).output)) == 3
    assert _lines(runner.invoke(app, ["review-queue", "--rule", "R-OTHER"]).output) == []
    assert _lines(runner.invoke(app, ["review-queue", "--category", "lamp"]).output) == []


def test_dry_run_lists_the_group_and_writes_nothing(s3_env, committed_run):
    waiting = sorted(r["asset_id"] for r in committed_run if r["review_status"] == "pending")
    result = CliRunner().invoke(app, ["review", "approve", "--run", "2026-11-20-run", "--rule", "R-TEST",
                                      "--reviewer", "ana", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"dry run: would mark {len(waiting)} image(s) approved" in result.output
    assert sorted(line.split()[0] for line in result.output.splitlines() if line.startswith("  ")) == waiting
    assert read_review_log(s3_env).num_rows == 0
    listed = boto3_client(s3_env).list_objects_v2(Bucket=s3_env.bucket, Prefix="images/run=2026-11-20-run/")
    assert listed.get("KeyCount", 0) == 1  # only the policy's own publication


def test_approve_a_rule_group_promotes_logs_and_rerenders_the_sheet(s3_env, committed_run, run_store):
    s3 = s3_env
    other = run_store(s3, "2026-11-20-other", ["human_review"], seed=5)
    waiting = sorted(r["asset_id"] for r in committed_run if r["review_status"] == "pending")
    dropped = [r["asset_id"] for r in committed_run if r["kept"] is False]
    result = CliRunner().invoke(app, ["review", "approve", "--run", "2026-11-20-run", "--rule", "R-TEST",
                                      "--reviewer", "ana", "--note", "batch ok"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{len(waiting)} approved, 0 refused; {len(waiting)} promoted to images/; review log review_log/")

    # Logged like any other decision: one batch, the same columns a decisions file fills.
    log = read_review_log(s3).to_pylist()
    assert sorted(r["asset_id"] for r in log) == waiting and not set(dropped) & {r["asset_id"] for r in log}
    assert {(r["decision"], r["reviewer"], r["note"], r["source"]) for r in log} == {
        ("approve", "ana", "batch ok", "cli:ops review approve --run 2026-11-20-run --rule R-TEST")}
    client = boto3_client(s3)
    for row in log:
        client.head_object(Bucket=s3.bucket, Key=row["published_s3_uri"].removeprefix(f"s3://{s3.bucket}/"))
    # The other run's image still waits.
    queue = _lines(CliRunner().invoke(app, ["review-queue"]).output)
    assert [q["asset_id"] for q in queue] == [other[0]["asset_id"]]

    # The run's contact sheet now says who approved what, and when.
    assert "contact sheet re-rendered: " in result.output
    page = client.get_object(Bucket=s3.bucket, Key=report_key("2026-11-20", "2026-11-20-run"))["Body"].read().decode()
    assert page.count("approved by ana at ") == len(waiting) and "class='decide-box'" not in page

    # Deciding the group again refuses: nothing of that rule waits in the run any more.
    again = CliRunner().invoke(app, ["review", "reject", "--run", "2026-11-20-run", "--rule", "R-TEST", "--reviewer", "ana"])
    assert again.exit_code == 1 and "no image of run 2026-11-20-run awaiting review has rule R-TEST" in again.output


def test_an_unknown_rule_names_the_rules_waiting_in_the_run(s3_env, committed_run):
    result = CliRunner().invoke(app, ["review", "reject", "--run", "2026-11-20-run", "--rule", "DMG-001", "--reviewer", "ana"])
    assert result.exit_code == 1
    assert "rules waiting in that run: R-TEST (4)" in result.output
    assert read_review_log(s3_env).num_rows == 0
