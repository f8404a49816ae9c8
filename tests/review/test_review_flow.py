"""The review flow on a real `prefect server`: a decisions file from S3, and the paused UI form resumed with input."""

import contextvars
import csv
import io
import threading
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run

from catalog_concepts.review.log import read_review_log
from catalog_concepts.storage.settings import boto3_client
from flows.review import review

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect_api(prefect_server):
    return prefect_server


def test_decisions_file_from_s3(prefect_api, s3_env, committed_run):
    s3 = s3_env
    waiting = [r for r in committed_run if r["review_status"] == "pending"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([["asset_id", "decision", "reviewer", "note"],
                      [waiting[0]["asset_id"], "approve", "ana", ""],
                      ["f" * 32, "approve", "ana", "typo"]])
    boto3_client(s3).put_object(Bucket=s3.bucket, Key="decisions/batch-1.csv", Body=buffer.getvalue().encode())

    state = review(decisions_uri=f"s3://{s3.bucket}/decisions/batch-1.csv", return_state=True)
    # The line the run list shows: a completed batch says what it did, refusals included.
    assert state.is_completed() and state.message.startswith("1 accepted, 1 refused"), state
    summary = state.result()
    assert (summary["accepted"], summary["rejected"], summary["promoted"]) == (1, 1, 1)
    assert summary["refused"] == [{"row": 2, "asset_id": "f" * 32, "reason": "unknown asset_id: in no committed run manifest"}]


def test_a_batch_with_every_row_refused_fails_with_the_counts(prefect_api, s3_env, committed_run):
    s3 = s3_env
    rows = [["asset_id", "decision", "reviewer", "note"]] + [[c * 32, "approve", "ana", ""] for c in "abcdef"]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    boto3_client(s3).put_object(Bucket=s3.bucket, Key="decisions/all-bad.csv", Body=buffer.getvalue().encode())

    state = review(decisions_uri=f"s3://{s3.bucket}/decisions/all-bad.csv", return_state=True)
    assert state.is_failed(), state
    assert state.message.startswith("0 accepted, 6 refused"), state.message
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id).state
    assert (stored.type, stored.message) == (StateType.FAILED, state.message)  # what the UI shows
    assert read_review_log(s3).num_rows == 0


def test_small_batch_decided_in_the_ui_form(prefect_api, s3_env, committed_run):
    s3 = s3_env
    waiting = [r for r in committed_run if r["review_status"] == "pending"]
    outcome: list = []
    # The thread runs in a copy of this context: Prefect's settings (the API URL) live in a context variable.
    context = contextvars.copy_context()
    runner = threading.Thread(target=context.run, args=(lambda: outcome.append(review(ui_batch_size=2)),), daemon=True)
    runner.start()

    # The run pauses for the form; a reviewer submits it (what the UI's Resume button sends).
    paused = _wait_for_paused_review(timeout_s=90)
    resume_flow_run(paused, run_input={"reviewer": "ana", "approve": [waiting[0]["asset_id"]], "reject": [waiting[1]["asset_id"]]})
    runner.join(timeout=90)
    assert outcome, "the review flow did not finish after the form was submitted"
    assert (outcome[0]["accepted"], outcome[0]["promoted"]) == (2, 1)
    log = read_review_log(s3)
    assert set(log.column("source").to_pylist()) == {"prefect-ui"}
    assert sorted(log.column("decision").to_pylist()) == ["approve", "reject"]


def _wait_for_paused_review(timeout_s: float):
    deadline = time.monotonic() + timeout_s
    state_filter = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=state_filter)
            if runs:
                return runs[0].id
            time.sleep(0.5)
    raise AssertionError("the review flow never paused for its form")
