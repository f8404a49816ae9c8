"""Ingest one batch of review decisions: check, promote approvals, append the review log.

Order matters for crash safety: promotions (create-only copies) come first, the log file
(create-only PUT) last. A batch interrupted before its log is written is simply ingested
again: its copies already exist and are accepted as identical, and the log then commits it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from catalog_concepts.review.decisions import DecisionCheck, RejectedDecision, ReviewDecision, check_decisions
from catalog_concepts.review.log import read_review_log, review_log_key, write_review_log
from catalog_concepts.review.promote import promote
from catalog_concepts.review.queue import decided_index, manifest_index
from catalog_concepts.storage.manifest import read_manifests
from catalog_concepts.storage.settings import S3Settings, boto3_client


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did: accepted and rejected rows, copies it created, and its log file."""

    batch_id: str | None
    accepted: tuple[ReviewDecision, ...]
    rejected: tuple[RejectedDecision, ...]
    promoted_keys: tuple[str, ...]
    log_key: str | None
    runs: tuple[tuple[str, str], ...] = ()  # (run_date, run_id) of every accepted decision: whose reports change


@dataclass(frozen=True)
class BatchVerdict:
    """How a review batch ends: ok, and the one-line message its run's final state carries."""

    ok: bool
    message: str


def batch_verdict(rows_given: int, accepted: int, refused: int) -> BatchVerdict:
    """'N accepted, M refused'; not ok when rows were given and none was accepted (nothing changed)."""
    message = f"{accepted} accepted, {refused} refused"
    if rows_given and not accepted:
        return BatchVerdict(False, f"{message}: no decision of the batch was applied (see the review-rejected-rows artifact)")
    if refused:
        return BatchVerdict(True, f"{message} (see the review-rejected-rows artifact)")
    return BatchVerdict(True, message)


def ingest_decisions(
    s3: S3Settings,
    rows: Sequence[Mapping],
    source: str,
    now: dt.datetime | None = None,
) -> IngestResult:
    """Check rows against committed manifests and the log; promote approvals; write one log file."""
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    client = boto3_client(s3)

    # 1. Check every row against what is awaiting review right now.
    by_asset = manifest_index(read_manifests(s3))
    check: DecisionCheck = check_decisions(rows, by_asset, decided_index(read_review_log(s3)))
    if not check.accepted:
        return IngestResult(None, (), check.rejected, (), None)

    # 2. Promote approvals (create-only server-side copies).
    batch_id = _batch_id(check.accepted)
    promoted: list[str] = []
    published: dict[str, str] = {}
    for decision in check.accepted:
        if decision.decision != "approve":
            continue  # rejections stay under review/ for audit; the log records the verdict
        row = by_asset[decision.asset_id]
        promotion = promote(client, s3.bucket, _key(row["s3_uri"], s3.bucket), row["sha256"])
        published[decision.asset_id] = f"s3://{s3.bucket}/{promotion.published_key}"
        if promotion.created:
            promoted.append(promotion.published_key)

    # 3. Commit the batch: its log file, written once.
    log_rows = [_log_row(d, by_asset[d.asset_id], batch_id, source, published.get(d.asset_id), now) for d in check.accepted]
    key = review_log_key(now.date(), batch_id)
    write_review_log(client, s3.bucket, key, log_rows)
    runs = sorted({(_iso(by_asset[d.asset_id]["run_date"]), by_asset[d.asset_id]["run_id"]) for d in check.accepted})
    return IngestResult(batch_id, check.accepted, check.rejected, tuple(promoted), key, tuple(runs))


def _iso(run_date) -> str:
    return run_date.isoformat() if hasattr(run_date, "isoformat") else str(run_date)


def _batch_id(accepted: Sequence[ReviewDecision]) -> str:
    """Named by its content, so a retried ingest of the same decisions writes the same log key."""
    payload = json.dumps([[d.asset_id, d.decision, d.reviewer, d.note] for d in accepted], sort_keys=True)
    return "b-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def _key(uri: str, bucket: str) -> str:
    prefix = f"s3://{bucket}/"
    if not uri or not uri.startswith(prefix):
        raise ValueError(f"manifest s3_uri {uri!r} is not in bucket {bucket!r}")
    return uri.removeprefix(prefix)


def _log_row(
    decision: ReviewDecision, row: Mapping, batch_id: str, source: str, published_uri: str | None, now: dt.datetime
) -> dict:
    return {
        "batch_id": batch_id,
        "asset_id": decision.asset_id,
        "run_id": row["run_id"],
        "run_date": row["run_date"],
        "sku": row["sku"],
        "decision": decision.decision,
        "reviewer": decision.reviewer,
        "note": decision.note,
        "source": source,
        "source_row": decision.source_row,
        "review_s3_uri": row["s3_uri"],
        "published_s3_uri": published_uri,
        "sha256": row["sha256"],
        "decided_at": now,
    }
