"""Bulk review: one verdict for a whole group of waiting images (a rule in a run), as decisions-file rows.

The rows go through the same check, promotion and log as a reviewer's file (catalog_concepts.review.ingest), so a
group decided from the shell is logged and promoted like any other decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from catalog_concepts.review.log import REVIEW_DECISIONS


def select_waiting(
    waiting: Sequence[Mapping], run_id: str | None = None, rule_id: str | None = None, category: str | None = None
) -> list[dict]:
    """The waiting images of one run, one rule that fired on them, one category (each filter optional)."""
    return [
        dict(row) for row in waiting
        if (run_id is None or row["run_id"] == run_id)
        and (rule_id is None or rule_id in (row.get("rule_ids") or ()))
        and (category is None or row.get("category") == category)
    ]


def group_decisions(rows: Sequence[Mapping], verdict: str, reviewer: str, note: str | None = None) -> list[dict]:
    """Decisions-file rows (asset_id, decision, reviewer, note) giving every row the same verdict."""
    if verdict not in REVIEW_DECISIONS:
        raise ValueError(f"verdict {verdict!r} is not one of {', '.join(REVIEW_DECISIONS)}")
    if not reviewer or not reviewer.strip():
        raise ValueError("reviewer is empty: give --reviewer with your name or e-mail")
    return [{"asset_id": row["asset_id"], "decision": verdict, "reviewer": reviewer.strip(), "note": note} for row in rows]


def bulk_source(verdict: str, run_id: str, rule_id: str, category: str | None) -> str:
    """The review log's `source` for a group decided from the shell: the command that decided it."""
    return f"cli:ops review {verdict} --run {run_id} --rule {rule_id}" + (f" --category {category}" if category else "")
