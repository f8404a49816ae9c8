"""`ops review-queue`, `ops review-status` and `ops report-link` through typer's runner, against the real local S3."""

import json

import pytest
from typer.testing import CliRunner

from cli.ops_cmds import app
from review.ingest import ingest_decisions


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_queue_and_status_follow_the_review_log(s3_env, committed_run):
    runner = CliRunner()
    waiting = [r["asset_id"] for r in committed_run if r["review_status"] == "pending"]
    queued = _lines(runner.invoke(app, ["review-queue"]).output)
    assert sorted(q["asset_id"] for q in queued) == sorted(waiting)

    ingest_decisions(s3_env, [{"asset_id": waiting[0], "decision": "approve", "reviewer": "ana", "note": None}], "test")
    assert sorted(q["asset_id"] for q in _lines(runner.invoke(app, ["review-queue"]).output)) == sorted(waiting[1:])
    status = {r["asset_id"]: r["review_status"] for r in _lines(runner.invoke(app, ["review-status"]).output)}
    assert status[waiting[0]] == "approved" and status[waiting[1]] == "pending" and len(status) == len(committed_run)


@pytest.mark.parametrize("minutes, ok", [(15, True), (1, True), (16, False), (0, False)])
def test_report_link_lifetime_is_capped(s3_env, minutes, ok):
    result = CliRunner().invoke(app, ["report-link", "2026-11-20", "run-1", "--minutes", str(minutes)])
    assert (result.exit_code == 0) is ok, result.output
    if ok:
        assert f"/{s3_env.bucket}/reports/run_date%3D2026-11-20/run-1.html?" in result.output
