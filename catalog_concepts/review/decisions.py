"""Reviewers' decision files (CSV or Parquet: asset_id, decision, reviewer, note), checked row by row.

A bad row is rejected with its reason and never blocks the good rows of the same file;
an asset with contradicting rows is rejected in full (fail closed: no guessing which one
the reviewer meant).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from catalog_concepts.review.log import REVIEW_DECISIONS

DECISION_COLUMNS: tuple[str, ...] = ("asset_id", "decision", "reviewer", "note")
REQUIRED_COLUMNS: tuple[str, ...] = ("asset_id", "decision", "reviewer")
FILE_FORMATS: tuple[str, ...] = ("csv", "parquet")
AWAITING_ACTION = "human_review"
PENDING_STATUS = "pending"


@dataclass(frozen=True)
class ReviewDecision:
    """One accepted verdict: which asset, approve or reject, by whom, and where it came from."""

    asset_id: str
    decision: str
    reviewer: str
    note: str | None
    source_row: int | None


@dataclass(frozen=True)
class RejectedDecision:
    """One refused row of a decisions file and why."""

    source_row: int | None
    asset_id: str | None
    reason: str


@dataclass(frozen=True)
class DecisionCheck:
    """The rows of one decisions file split into accepted and rejected."""

    accepted: tuple[ReviewDecision, ...]
    rejected: tuple[RejectedDecision, ...]


def decisions_format(name: str) -> str:
    """'csv' or 'parquet' from a file name or URI, else ValueError naming the allowed endings."""
    ending = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ending not in FILE_FORMATS:
        raise ValueError(f"decisions file {name!r}: expected a name ending in .csv or .parquet")
    return ending


def parse_decisions(data: bytes, file_format: str) -> list[dict]:
    """Rows of a decisions file as dicts of the four columns (note may be None)."""
    import pyarrow as pa

    if file_format == "csv":
        from pyarrow import csv

        # Every decision column as text: an asset id of digits must not become a number.
        types = {name: pa.string() for name in DECISION_COLUMNS}
        table = csv.read_csv(io.BytesIO(data), convert_options=csv.ConvertOptions(column_types=types))
    elif file_format == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
    else:
        raise ValueError(f"unknown decisions format {file_format!r}; allowed: {', '.join(FILE_FORMATS)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in table.column_names]
    if missing:
        raise ValueError(f"decisions file lacks columns {missing}; expected {', '.join(DECISION_COLUMNS)}")
    columns = {name: table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows
               for name in DECISION_COLUMNS}
    return [{name: columns[name][i] for name in DECISION_COLUMNS} for i in range(table.num_rows)]


def check_decisions(
    rows: Sequence[Mapping],
    manifest_by_asset: Mapping[str, Mapping],
    decided: Mapping[str, str],
    *,
    first_row: int = 1,
) -> DecisionCheck:
    """Accept rows for assets awaiting review; reject the rest row by row with a reason."""
    accepted: dict[str, ReviewDecision] = {}
    rejected: list[RejectedDecision] = []
    rows_by_asset: dict[str, list[tuple[int, str]]] = {}
    for offset, row in enumerate(rows):
        number = first_row + offset
        asset_id = _text(row.get("asset_id"))
        decision = (_text(row.get("decision")) or "").lower()
        reviewer = _text(row.get("reviewer"))
        reason = _row_problem(asset_id, decision, reviewer, manifest_by_asset, decided)
        if reason:
            rejected.append(RejectedDecision(number, asset_id, reason))
            continue
        rows_by_asset.setdefault(asset_id, []).append((number, decision))
        if asset_id in accepted:
            continue  # judged below, once every row of the file has been seen
        accepted[asset_id] = ReviewDecision(asset_id, decision, reviewer, _text(row.get("note")), number)
    for asset_id, seen in rows_by_asset.items():
        if len({decision for _, decision in seen}) > 1:
            numbers = ", ".join(str(n) for n, _ in seen)
            del accepted[asset_id]
            rejected.extend(
                RejectedDecision(n, asset_id, f"conflicting decisions for this asset in this file (rows {numbers})")
                for n, _ in seen
            )
        else:
            rejected.extend(
                RejectedDecision(n, asset_id, f"duplicate of row {seen[0][0]}") for n, _ in seen[1:]
            )
    rejected.sort(key=lambda r: (r.source_row is None, r.source_row or 0))
    return DecisionCheck(accepted=tuple(accepted.values()), rejected=tuple(rejected))


def _row_problem(
    asset_id: str | None,
    decision: str,
    reviewer: str | None,
    manifest_by_asset: Mapping[str, Mapping],
    decided: Mapping[str, str],
) -> str | None:
    """The first reason this row cannot be accepted, or None."""
    if not asset_id:
        return "asset_id is empty"
    if decision not in REVIEW_DECISIONS:
        return f"decision {decision!r} is not one of {', '.join(REVIEW_DECISIONS)}"
    if not reviewer:
        return "reviewer is empty"
    row = manifest_by_asset.get(asset_id)
    if row is None:
        return "unknown asset_id: in no committed run manifest"
    if row["decision"] != AWAITING_ACTION:
        return f"not awaiting review: the policy decided {row['decision']!r}"
    if row.get("review_status") != PENDING_STATUS:
        # e.g. a candidate per-SKU selection dropped: stored for audit, never queued for a person.
        why = f" ({row['drop_reason']})" if row.get("drop_reason") else ""
        return f"not awaiting review: review_status is {row.get('review_status')!r}{why}"
    if asset_id in decided:
        return f"already decided: {decided[asset_id]}"
    return None


def _text(value) -> str | None:
    """Stripped text, or None for missing/blank/NaN cells (pandas writes NaN for empty notes)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None
