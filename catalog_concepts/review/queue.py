"""The review queue's state: committed manifests joined with the review log on asset_id."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from catalog_concepts.review.decisions import AWAITING_ACTION, PENDING_STATUS

_MANIFEST_COLUMNS = ("asset_id", "run_id", "run_date", "sku", "decision", "s3_uri", "sha256", "review_status", "kept")
# Absent from tables built without the selection columns; the rest is what a reviewer reads in the queue.
_OPTIONAL_COLUMNS = ("drop_reason", "category", "rule_ids", "decision_reasons")
STATUS_BY_VERDICT = {"approve": "approved", "reject": "rejected"}


def manifest_index(manifest: pa.Table) -> dict[str, dict]:
    """asset_id -> the manifest columns review needs (policy decision, stored object, digest)."""
    names = list(_MANIFEST_COLUMNS) + [c for c in _OPTIONAL_COLUMNS if c in manifest.column_names]
    columns = manifest.select(names).to_pylist()
    return {row["asset_id"]: row for row in columns}


def decided_index(log: pa.Table) -> dict[str, str]:
    """asset_id -> a readable account of its earlier verdict ("approve by ana in batch b-...")."""
    result: dict[str, str] = {}
    for row in log.select(["asset_id", "decision", "reviewer", "batch_id"]).to_pylist():
        result.setdefault(row["asset_id"], f"{row['decision']} by {row['reviewer']} in batch {row['batch_id']}")
    return result


def awaiting_review(by_asset: Mapping[str, Mapping], decided: Mapping[str, str]) -> list[dict]:
    """Manifest rows the policy sent to a person that nobody has decided yet, oldest run first."""
    # A candidate per-SKU selection dropped (kept False; None in rows from before selection) waits for nobody.
    waiting = [
        dict(row) for asset, row in by_asset.items()
        if row["decision"] == AWAITING_ACTION and row.get("kept") is not False
        and row["review_status"] == PENDING_STATUS and asset not in decided
    ]
    return sorted(waiting, key=lambda r: (r["run_date"], r["run_id"], r["sku"], r["asset_id"]))


def review_status(manifest: pa.Table, log: pa.Table) -> pa.Table:
    """Every manifest row with its current review status: the manifest's, overridden by the log's verdict."""
    base = manifest.select(list(_MANIFEST_COLUMNS))
    verdicts = log.select(["asset_id", "decision", "reviewer", "decided_at", "published_s3_uri"]).rename_columns(
        ["asset_id", "verdict", "reviewer", "decided_at", "published_s3_uri"]
    )
    joined = base.join(verdicts, keys="asset_id", join_type="left outer")
    status = [
        STATUS_BY_VERDICT[verdict] if verdict else current
        for current, verdict in zip(joined.column("review_status").to_pylist(), joined.column("verdict").to_pylist(), strict=True)
    ]
    joined = joined.set_column(joined.schema.get_field_index("review_status"), "review_status", pa.array(status, pa.string()))
    return joined.sort_by([("run_date", "ascending"), ("run_id", "ascending"), ("sku", "ascending"), ("asset_id", "ascending")])
