"""`ops review-queue`, `ops review-status` and `ops report-link` through typer's runner, against the real local S3."""

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from catalog_concepts.cli.ops_cmds import app
from catalog_concepts.review.ingest import ingest_decisions


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


def _lifetime(link: str, started: float, finished: float) -> tuple[float, float]:
    """Bounds of the link's lifetime in seconds: signed somewhere between started and finished."""
    query = parse_qs(urlsplit(link.strip()).query)
    if "X-Amz-Expires" in query:  # SigV4: a lifetime
        return float(query["X-Amz-Expires"][0]), float(query["X-Amz-Expires"][0])
    expires = int(query["Expires"][0])  # SigV2: an epoch second
    return expires - finished - 1, expires - started + 1


@pytest.mark.parametrize("hours, ok", [(168, True), (1, True), (169, False), (0, False)])
def test_report_link_lifetime_is_capped_at_seven_days(s3_env, hours, ok):
    started = time.time()
    result = CliRunner().invoke(app, ["report-link", "2026-11-20", "run-1", "--hours", str(hours)])
    finished = time.time()
    assert (result.exit_code == 0) is ok, result.output
    if ok:
        assert f"/{s3_env.bucket}/reports/run_date%3D2026-11-20/run-1.html?" in result.output
        low, high = _lifetime(result.output, started, finished)
        assert low <= hours * 3600 <= high


@pytest.mark.parametrize("setting, seconds", [("", 24 * 3600), ("48", 48 * 3600), ("169", None), ("1.5", None)])
def test_report_link_lifetime_comes_from_the_environment(s3_env, monkeypatch, setting, seconds):
    monkeypatch.setenv("CONCEPTS_REPORT_LINK_HOURS", setting)
    started = time.time()
    result = CliRunner().invoke(app, ["report-link", "2026-11-20", "run-1"])
    finished = time.time()
    if seconds is None:
        assert result.exit_code != 0 and "CONCEPTS_REPORT_LINK_HOURS" in str(result.exception)
    else:
        assert result.exit_code == 0, result.output
        low, high = _lifetime(result.output, started, finished)
        assert low <= seconds <= high
