"""The review flow: ingest a reviewers' decisions file, or pause for a small batch decided in the Prefect UI."""

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Completed, Failed
from prefect.utilities.annotations import quote  # decision rows are data: not walked for futures by Prefect
from prefect.utilities.hashing import file_hash
from pydantic import BaseModel, Field

from catalog_concepts.review.ingest import IngestResult, batch_verdict
from flows.flat_parameters import flat_parameters
from flows.resources import report_link_seconds, s3_settings
from tasks.review_tasks import ingest_decisions_task, pending_reviews_task, read_decisions_task, rerender_reports_task

UI_SOURCE = "prefect-ui"
PAUSE_POLL_S = 3  # how often the paused run checks for the submitted form


class ReviewParams(BaseModel):
    """Where the decisions come from: a file, or (without one) the UI form for a small batch."""

    decisions_uri: str = Field(
        "", title="Decisions file",
        description="Decisions file (CSV or Parquet: asset_id, decision, reviewer, note): s3:// URI or a path on the worker "
                    "(empty: decide a small batch in the UI form)",
    )
    ui_batch_size: int = Field(12, ge=1, le=50, title="Images in the UI form",
                               description="Without a file: how many waiting images the UI form offers")
    ui_timeout_s: int = Field(3600, ge=60, le=7 * 24 * 3600, title="Form timeout (seconds)", description="How long the paused run waits for the form")
    bucket: str = Field("", title="Bucket", description="Bucket (empty: the configured one)")


class ReviewForm(RunInput):
    """The UI form: asset ids to approve and to reject, and who decided."""

    reviewer: str = Field(description="Your name or e-mail")
    approve: list[str] = Field(default_factory=list, description="Asset ids to publish")
    reject: list[str] = Field(default_factory=list, description="Asset ids to keep unpublished")
    note: str | None = Field(None, description="Optional note stored with every decision")


def form_rows(form: ReviewForm) -> list[dict]:
    """The form's answers as decisions-file rows (an id in both lists becomes a conflict, rejected)."""
    return [
        {"asset_id": asset, "decision": decision, "reviewer": form.reviewer, "note": form.note}
        for decision, assets in (("approve", form.approve), ("reject", form.reject))
        for asset in assets
    ]


# version: this file's hash, Prefect's default for a flow were its function not the flat-parameter wrapper
# (whose source file Prefect would hash instead).
@flow(name="review", version=file_hash(__file__), log_prints=False)
@flat_parameters(ReviewParams)
def review(params: ReviewParams) -> dict:
    """Apply reviewers' decisions: promote approvals, keep rejections, append the review log.

    The run's final state says "N accepted, M refused"; it fails when rows were given and none was accepted.
    """
    logger = get_run_logger()
    s3 = s3_settings(params.bucket or None)

    # 1. Collect decisions: the file when given, else the UI form over a small waiting batch.
    if params.decisions_uri:
        rows, source = read_decisions_task(s3, params.decisions_uri), params.decisions_uri
    else:
        waiting = pending_reviews_task(s3)[: params.ui_batch_size]
        if not waiting:
            logger.info("nothing awaits review")
            return Completed(message="nothing awaits review", data={"accepted": 0, "rejected": 0, "promoted": 0, "waiting": 0})
        create_table_artifact(
            [{"asset_id": w["asset_id"], "sku": w["sku"], "run_id": w["run_id"], "image": w["s3_uri"]} for w in waiting],
            key="review-batch", description="Images offered in the review form: copy their ids into approve or reject",
        )
        form = pause_flow_run(
            wait_for_input=ReviewForm.with_initial_data(reviewer=""), timeout=params.ui_timeout_s, poll_interval=PAUSE_POLL_S,
        )
        rows, source = form_rows(form), UI_SOURCE

    # 2. Check, promote and log them.
    result: IngestResult = ingest_decisions_task(s3, quote(rows), source)
    if result.rejected:
        create_table_artifact(
            [{"row": r.source_row, "asset_id": r.asset_id, "reason": r.reason} for r in result.rejected],
            key="review-rejected-rows", description="Decision rows refused, with reasons",
        )
    logger.info("review batch %s: %d accepted, %d refused, %d promoted",
                result.batch_id, len(result.accepted), len(result.rejected), len(result.promoted_keys))
    summary = {
        "batch_id": result.batch_id,
        "accepted": len(result.accepted),
        "rejected": len(result.rejected),
        "promoted": len(result.promoted_keys),
        "log_key": result.log_key,
        "refused": [{"row": r.source_row, "asset_id": r.asset_id, "reason": r.reason} for r in result.rejected],
    }

    # 3. Re-render the contact sheets of the runs the batch touched, now showing who decided what.
    #    The decisions are committed by now: a sheet that fails to render is reported, not a failed batch
    #    (running the batch again would refuse every row as already decided).
    reports_note = ""
    if result.runs:
        rendered = rerender_reports_task(s3, list(result.runs), link_seconds=report_link_seconds(),
                                         return_state=True)
        if rendered.is_completed():
            summary["reports"] = rendered.result()
            reports_note = f"; {len(summary['reports'])} contact sheet(s) re-rendered"
        else:
            logger.error("contact sheets of %s not re-rendered: %s", result.runs, rendered.message)
            reports_note = f"; contact sheets not re-rendered ({rendered.message})"

    # 4. End with the counts in the state message, the line a run list shows: a batch that changed
    #    nothing fails (a Failed state carries no data, so a caller gets the message as FailedRun).
    verdict = batch_verdict(len(rows), len(result.accepted), len(result.rejected))
    if not verdict.ok:
        logger.error("review batch from %s: %s", source, verdict.message)
        return Failed(message=verdict.message)
    return Completed(message=verdict.message + reports_note, data=summary)
