"""Prefect side of run reports: artifacts (tables, links, progress) and the contact-sheet task."""

from uuid import UUID

from prefect import task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from catalog_concepts.reports.backfill import backfill_markdown, backfill_rows
from catalog_concepts.reports.progress import RunProgress
from catalog_concepts.reports.publish import DEFAULT_LINK_SECONDS, lifetime_text, publish_contact_sheet
from catalog_concepts.reports.run_rows import manifest_decision_counts, manifest_rows_and_categories
from catalog_concepts.reports.tables import decision_counts, rule_counts, score_summary
from catalog_concepts.storage.settings import S3Settings

# Artifact keys are fixed per kind, so the UI's Artifacts page shows each kind's history across runs.
KEY_DECISIONS = "run-decisions"
KEY_SCORES = "run-scores"
KEY_REPORT_LINK = "run-contact-sheet"
KEY_SUMMARY = "run-summary"
KEY_PROGRESS = "run-progress"
KEY_BACKFILL_DATES = "backfill-dates"
KEY_BACKFILL_SUMMARY = "backfill-summary"


def start_progress(total_images: int, bar=None) -> RunProgress:
    """A progress artifact at 0% for a run of total_images, and the RunProgress that moves it (and the bar) batch by batch."""
    artifact_id = create_progress_artifact(0.0, key=KEY_PROGRESS, description=f"0 / {total_images} images")
    return RunProgress(total_images, lambda done, total: _set_progress(artifact_id, done, total), bar=bar)


def update_progress(progress: RunProgress, done_images: int, total_images: int) -> None:
    """Count done_images of finished shards (called as shards finish); the artifact shows 100% when all are done."""
    progress.finished(done_images)


def _set_progress(artifact_id: UUID, done_images: int, total_images: int) -> None:
    percent = 100.0 if total_images <= 0 else min(100.0, 100.0 * done_images / total_images)
    update_progress_artifact(artifact_id, percent, description=f"{done_images} / {total_images} images")


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, timeout_seconds=900)
def publish_run_report_task(
    s3: S3Settings,
    run_date: str,
    run_id: str,
    rows: list[dict],
    category_by_sku: dict[str, str],
    manifest_uri: str,
    images: dict[str, bytes] | None = None,
    link_seconds: int = DEFAULT_LINK_SECONDS,
) -> dict:
    """Publish the contact sheet (images: bytes already at hand, by asset id) and attach the run's tables and links as artifacts."""
    report = publish_contact_sheet(s3, run_date, run_id, rows, category_by_sku, manifest_uri, images=images,
                                   expires_in_s=link_seconds)
    create_table_artifact(decision_counts(rows, category_by_sku), key=KEY_DECISIONS,
                          description=f"Images by decision and category, run {run_id}")
    create_table_artifact(score_summary(rows), key=KEY_SCORES, description=f"Score summaries, run {run_id}")
    create_link_artifact(
        report.link, link_text=f"contact sheet of {run_id} (link expires in {lifetime_text(report.expires_in_s)})",
        key=KEY_REPORT_LINK, description=f"{report.uri}; a fresh link: `catalog-concepts ops report-link {run_date} {run_id}`",
    )
    rules = "\n".join(f"| {r['rule_id']} | {r['images']} |" for r in rule_counts(rows)) or "| (none) | 0 |"
    create_markdown_artifact(
        f"# Run {run_id}\n\n"
        f"- images: **{len(rows)}**\n- manifest: `{manifest_uri}`\n- contact sheet: `{report.uri}` "
        f"([open, expires in {lifetime_text(report.expires_in_s)}]({report.link}))\n\n"
        f"| rule | images |\n|---|---|\n{rules}\n",
        key=KEY_SUMMARY, description=f"Run {run_id} summary",
    )
    return {"report_uri": report.uri, "report_link": report.link, "images_shown": report.images_shown}


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, timeout_seconds=900)
def report_from_manifest_task(s3: S3Settings, manifest_uri: str, link_seconds: int = DEFAULT_LINK_SECONDS) -> dict:
    """Publish the report of an already committed run from its manifest (and its catalog's categories)."""
    rows, category_by_sku = manifest_rows_and_categories(s3, manifest_uri)
    if not rows:
        return {"report_uri": None, "report_link": None, "images_shown": 0}
    first = rows[0]
    return publish_run_report_task.fn(s3, first["run_date"].isoformat(), first["run_id"], rows, category_by_sku, manifest_uri,
                                      link_seconds=link_seconds)


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE, timeout_seconds=300)
def manifest_decisions_task(s3: S3Settings, manifest_uri: str) -> dict[str, int]:
    """Images per decision of a committed run, from its manifest."""
    return manifest_decision_counts(s3, manifest_uri)


def publish_backfill_report(summaries: list[dict], start: str, end: str) -> None:
    """Attach the backfill's own artifacts to its run: one row per date as a table and as linked markdown."""
    rows = backfill_rows(summaries)
    create_table_artifact(rows, key=KEY_BACKFILL_DATES, description=f"Backfill {start} .. {end}: one row per date")
    create_markdown_artifact(backfill_markdown(rows, start, end), key=KEY_BACKFILL_SUMMARY,
                             description=f"Backfill {start} .. {end}: each date's run, images by decision, contact sheet")
