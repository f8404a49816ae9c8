"""Contact sheets after a review: each touched run's page re-rendered with who approved or rejected what, and when."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from catalog_concepts.reports.publish import DEFAULT_LINK_SECONDS, PublishedReport, publish_contact_sheet
from catalog_concepts.reports.run_rows import manifest_rows_and_categories
from catalog_concepts.review.log import read_review_log
from catalog_concepts.storage.keys import manifest_key
from catalog_concepts.storage.settings import S3Settings


def latest_verdicts(log: pa.Table) -> dict[str, dict]:
    """asset_id -> its latest review-log row (decision, reviewer, decided_at, batch_id)."""
    latest: dict[str, dict] = {}
    for row in log.select(["asset_id", "decision", "reviewer", "decided_at", "batch_id"]).to_pylist():
        seen = latest.get(row["asset_id"])
        if seen is None or row["decided_at"] > seen["decided_at"]:
            latest[row["asset_id"]] = row
    return latest


def rerender_contact_sheets(
    s3: S3Settings, runs: Iterable[tuple[str, str]], expires_in_s: int = DEFAULT_LINK_SECONDS
) -> list[PublishedReport]:
    """Publish again the contact sheet of each (run_date, run_id), now showing the review log's verdicts."""
    verdicts = latest_verdicts(read_review_log(s3))
    reports = []
    for run_date, run_id in sorted({(str(date), str(run)) for date, run in runs}):
        manifest_uri = f"s3://{s3.bucket}/{manifest_key(run_date, run_id)}"
        rows, category_by_sku = manifest_rows_and_categories(s3, manifest_uri)
        if not rows:
            continue
        mine = {row["asset_id"]: verdicts[row["asset_id"]] for row in rows if row["asset_id"] in verdicts}
        reports.append(publish_contact_sheet(s3, run_date, run_id, rows, category_by_sku, manifest_uri,
                                             expires_in_s=expires_in_s, verdicts=mine))
    return reports
