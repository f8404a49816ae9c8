"""A backfill's own report: one line per date (run id, status, images by decision, contact sheet), as a table and as markdown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from catalog_concepts.reports.publish import DEFAULT_LINK_SECONDS
from catalog_concepts.reports.tables import DECISION_ORDER

NOT_KNOWN = "-"
_FIXED_COLUMNS = ("run_date", "status", "run_id", "images", "contact_sheet", "contact_sheet_link", "flow_run", "error")


def backfill_rows(summaries: Sequence[Mapping]) -> list[dict]:
    """One flat row per date from the backfill's per-date summaries; a failed date keeps its error."""
    decisions = list(DECISION_ORDER) + sorted(
        {d for s in summaries for d in (s.get("decisions") or {})} - set(DECISION_ORDER)
    )
    rows = []
    for summary in summaries:
        counts = summary.get("decisions")
        row = {
            "run_date": summary["run_date"],
            "status": summary.get("status", NOT_KNOWN),
            "run_id": summary.get("run_id") or NOT_KNOWN,
            # Counts are unknown (not zero) for a date that failed before its manifest.
            **{d: (counts or {}).get(d, 0) if counts is not None else NOT_KNOWN for d in decisions},
            "images": sum(counts.values()) if counts is not None else NOT_KNOWN,
            "contact_sheet": summary.get("report_uri") or NOT_KNOWN,
            "contact_sheet_link": summary.get("report_link") or NOT_KNOWN,
            "flow_run": summary.get("flow_run_url") or summary.get("flow_run_id") or NOT_KNOWN,
            "error": summary.get("error") or "",
        }
        rows.append(row)
    return rows


def backfill_markdown(rows: Sequence[Mapping], start: str, end: str) -> str:
    """The rows as a markdown page with clickable contact sheets and date runs, and how to get a fresh link."""
    decisions = [k for k in (rows[0] if rows else {}) if k not in _FIXED_COLUMNS]
    failed = [r["run_date"] for r in rows if r["status"] == "failed"]
    header = ["date", "status", "run id", *decisions, "images", "contact sheet", "date run"]
    lines = [
        f"# Backfill {start} .. {end}",
        "",
        f"{len(rows)} dates, {len(rows) - len(failed)} done, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "") + ".",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in rows:
        sheet = _link("open", row["contact_sheet_link"])
        run = _link("open", row["flow_run"]) if str(row["flow_run"]).startswith("http") else f"`{row['flow_run']}`"
        status = row["status"] + (f": {_cell(row['error'])}" if row["error"] else "")
        cells = [row["run_date"], status, f"`{row['run_id']}`", *(str(row[d]) for d in decisions), str(row["images"]), sheet, run]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Contact-sheet links expire {DEFAULT_LINK_SECONDS // 3600} hours after the run (by default); a fresh one: "
        "`catalog-concepts ops report-link <date> <run id>`. Each date's own artifacts (decisions, scores, "
        "summary) are on its date run's page.",
    ]
    return "\n".join(lines) + "\n"


def _link(text: str, url: str) -> str:
    return f"[{text}]({url})" if url and url != NOT_KNOWN else NOT_KNOWN


def _cell(text: str, limit: int = 200) -> str:
    """Text safe inside one markdown table cell: one line, no column separators, bounded."""
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
