"""A run's contact sheet: one self-contained HTML page that is also the review tool.

Thumbnails are data URIs so the page works from a single presigned link (a relative link to
another object would need its own signature). Images are grouped by decision, then by the
policy rules that fired; the ones awaiting a person carry approve / reject boxes (per image and
per group) from which the page's own script builds the decisions CSV the review flow reads.
Past `max_thumbnails` images are listed without a picture, people-facing decisions first, so a
10,000-SKU run stays a page a browser can open.
"""

from __future__ import annotations

import base64
import html
import json
import struct
from collections.abc import Mapping, Sequence

from catalog_concepts.reports.review_script import REVIEW_SCRIPT
from catalog_concepts.reports.tables import category_of, decision_counts, rule_counts, score_summary, scores_of

DEFAULT_MAX_THUMBNAILS = 1000
AWAITING = "human_review"
DROPPED = "dropped"  # the sheet's own section: candidates per-SKU selection did not keep
# Sections top to bottom: what a person must decide, then the policy's own verdicts, then the dropped.
SECTION_ORDER: tuple[str, ...] = (AWAITING, "reject", "publish_labeled_preview", DROPPED)
SECTION_TITLES = {
    AWAITING: "awaiting review",
    "reject": "rejected by the policy",
    "publish_labeled_preview": "published automatically",
    DROPPED: "dropped by per-SKU selection (kept = false, stored under rejected/, never reviewed)",
}
# Scores shown on every card, rounded; the policy's rules read these. The rest sit behind a disclosure.
KEY_SCORES: tuple[str, ...] = ("alignment", "clip_score", "sharpness", "safety_nsfw", "memorisation_nn_rms",
                               "phash_sku_min_distance")
NO_RULE = "(no rule)"

_STYLE = """
body{font:14px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}
#review-panel{position:sticky;top:0;background:#fff;border:2px solid #e90;padding:8px;z-index:1}
#review-panel textarea{width:100%;height:5em;font:11px monospace}
section.decision{background:#fff;border:1px solid #ddd;margin:12px 0;padding:8px}
.group{margin:8px 0;border-top:1px dashed #ccc}.group h4{margin:6px 0}
.group h4 label{font-weight:normal;margin-left:12px}
.card{display:inline-block;vertical-align:top;width:300px;margin:4px;padding:4px;font-size:11px;border:3px solid #888;background:#fff}
.card.publish_labeled_preview{border-color:#2a2}.card.human_review{border-color:#e90}.card.reject{border-color:#c22}
.card.dropped{border-color:#bbb;border-style:dashed;background:#f0f0f0;color:#666}
.card.approved{border-color:#2a2;border-style:double}.card.rejected{border-color:#c22;border-style:double}
.pics img{image-rendering:pixelated;vertical-align:top;margin-right:4px}
.status{font-weight:bold}.prompt{font-style:italic}
.decide label{margin-right:12px;font-size:13px}
.line{font-size:11px;color:#666}
"""


def section_of(row: Mapping) -> str:
    """The sheet section of a row: its policy decision, or 'dropped' for a candidate selection did not keep."""
    return DROPPED if row.get("kept") is False else row["decision"]


def rule_group(row: Mapping) -> str:
    """The rules that fired on a row as one group name ('DMG-001', 'DMG-001 + ALIGN-001'), or '(no rule)'."""
    return " + ".join(row.get("rule_ids") or ()) or NO_RULE


def thumbnail_order(rows: Sequence[Mapping], max_thumbnails: int, verdicts: Mapping[str, Mapping] | None = None) -> set[str]:
    """Asset ids that get an inline picture: still awaiting review first, then reviewed, rejected, published, dropped; capped."""
    return {row["asset_id"] for row in sorted(rows, key=lambda row: thumbnail_rank(row, verdicts))[: max(0, max_thumbnails)]}


def thumbnail_rank(row: Mapping, verdicts: Mapping[str, Mapping] | None = None) -> tuple:
    """Where a row stands in the queue for an inline picture (lowest first)."""
    rank = {section: i for i, section in enumerate(SECTION_ORDER)}
    # A re-rendered sheet spends its pictures on what is left to decide.
    waiting = section_of(row) == AWAITING and row["asset_id"] not in (verdicts or {})
    return (not waiting, rank.get(section_of(row), len(rank)), row["sku"], row["variant"])


def contact_sheet_html(
    title: str,
    rows: Sequence[Mapping],
    images: Mapping[str, bytes],
    category_by_sku: Mapping[str, str],
    links: Mapping[str, str] | None = None,
    verdicts: Mapping[str, Mapping] | None = None,
    run_id: str = "run",
) -> str:
    """The page: summary tables, the review panel, then images by decision and rule group.

    verdicts: asset_id -> the review log's latest row for it (decision, reviewer, decided_at).
    """
    esc = html.escape
    verdicts = verdicts or {}
    waiting = [r for r in rows if _awaiting(r, verdicts)]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p id='totals'>{len(rows)} images, {len({r['sku'] for r in rows})} SKUs, "
        f"{sum(1 for r in rows if r['asset_id'] in images)} shown, {len(waiting)} awaiting review, "
        f"{sum(1 for r in rows if r['asset_id'] in verdicts)} reviewed</p>",
    ]
    for name, uri in (links or {}).items():
        parts.append(f"<p>{esc(name)}: <code>{esc(uri)}</code></p>")
    parts.append("<h2>Decisions by category</h2>" + _table(decision_counts(rows, category_by_sku)))
    parts.append("<h2>Scores</h2>" + _table(score_summary(rows)))
    parts.append("<h2>Policy rules fired</h2>" + _table(rule_counts(rows)))
    parts.append(_review_panel(run_id, len(waiting)))
    parts.append("<h2>Images</h2>")
    for section in _sections_in(rows):
        members = [r for r in rows if section_of(r) == section]
        parts.append(f"<section class='decision' data-section='{esc(section)}'>"
                     f"<h3>{esc(section)}: {esc(SECTION_TITLES.get(section, section))} ({len(members)})</h3>")
        for group in sorted({rule_group(r) for r in members}, key=lambda g: (g == NO_RULE, g)):
            in_group = sorted((r for r in members if rule_group(r) == group), key=lambda r: (r["sku"], r["variant"]))
            parts.append(_group(section, group, in_group, images, category_by_sku, verdicts))
        parts.append("</section>")
    parts.append(f"<script>{REVIEW_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _awaiting(row: Mapping, verdicts: Mapping[str, Mapping]) -> bool:
    """Kept, sent to a person by the policy, still pending, and not in the review log."""
    return (section_of(row) == AWAITING and row.get("review_status", "pending") == "pending"
            and row["asset_id"] not in verdicts)


def _sections_in(rows: Sequence[Mapping]) -> list[str]:
    present = {section_of(r) for r in rows}
    return [s for s in SECTION_ORDER if s in present] + sorted(present - set(SECTION_ORDER))


def _review_panel(run_id: str, waiting: int) -> str:
    esc = html.escape
    return (
        f"<h2>Review</h2><div id='review-panel' data-run-id='{esc(run_id)}'>"
        f"<p>{waiting} images await review. Tick approve or reject per image, or a whole rule group; type your name; "
        "download the CSV and give it to the <code>review</code> deployment as <code>decisions_uri</code> "
        "(an s3:// URI in this bucket or a path on its worker). Nothing leaves this page until you download.</p>"
        "<label>Reviewer <input id='reviewer' autocomplete='name' placeholder='name or e-mail'></label> "
        "<label>Note <input id='note' size='40' placeholder='optional, stored with every decision'></label> "
        "<button id='download-csv' type='button' disabled>Download decisions CSV</button> "
        "<button id='clear-decisions' type='button'>Clear</button> "
        "<span id='decision-count'>0 decisions</span> <span id='panel-hint'></span>"
        "<textarea id='decisions-csv' readonly aria-label='decisions CSV'>asset_id,decision,reviewer,note\n</textarea>"
        "</div>"
    )


def _group(section: str, group: str, rows: Sequence[Mapping], images: Mapping[str, bytes],
           category_by_sku: Mapping[str, str], verdicts: Mapping[str, Mapping]) -> str:
    esc = html.escape
    group_id = f"{section}|{group}"
    actionable = sum(1 for r in rows if _awaiting(r, verdicts) and r["asset_id"] in images)
    unseen = sum(1 for r in rows if _awaiting(r, verdicts) and r["asset_id"] not in images)
    boxes = ""
    if actionable:
        boxes = "".join(
            f"<label><input type='checkbox' class='group-box' data-group='{esc(group_id)}' data-verdict='{verdict}'> "
            f"{verdict} all {actionable} of {esc(group)} in this run</label>"
            for verdict in ("approve", "reject")
        )
    if unseen:
        # Past the thumbnail cap a page cannot show them; the shell decides a whole rule group of a run.
        boxes += (f" <small>{unseen} more waiting without a picture here: "
                  "<code>catalog-concepts ops review-queue --run RUN --rule RULE</code></small>")
    head = f"<h4>{esc(group)} ({len(rows)}){boxes}</h4>"
    cards = "".join(_card(r, images.get(r["asset_id"]), category_by_sku, verdicts, group_id) for r in rows)
    return f"<div class='group' data-group='{esc(group_id)}'>{head}{cards}</div>"


def _card(row: Mapping, image: bytes | None, category_by_sku: Mapping[str, str],
          verdicts: Mapping[str, Mapping], group_id: str) -> str:
    esc = html.escape
    asset = row["asset_id"]
    rules = ", ".join(esc(r) for r in row.get("rule_ids") or ()) or "none"
    status, status_class = _status_line(row, verdicts.get(asset))
    if image is None:
        # Past the thumbnail cap one line per image: no picture, so nothing to decide on this page.
        return (f"<div class='line' data-asset-id='{esc(asset)}'><code>{esc(asset)}</code> {esc(row['sku'])} "
                f"v{row['variant']} not shown; rules: {rules}; {esc(status)}</div>")
    inputs = _policy_inputs(row)
    facts = " · ".join(esc(str(v)) for v in (
        row["sku"], f"v{row['variant']}", category_of(row, category_by_sku), inputs.get("color"), inputs.get("asset_type"),
    ) if v)
    reasons = "".join(f"<li>{esc(r)}</li>" for r in row.get("decision_reasons") or ())
    decide = ""
    if _awaiting(row, verdicts):
        decide = "<div class='decide'>" + "".join(
            f"<label><input type='checkbox' class='decide-box' data-asset-id='{esc(asset)}' data-group='{esc(group_id)}' "
            f"data-verdict='{verdict}'> {verdict}</label>" for verdict in ("approve", "reject")
        ) + "</div>"
    return (
        f"<div class='card {esc(section_of(row))} {status_class}' data-asset-id='{esc(asset)}' data-status='{status_class}'>"
        f"{_pictures(row, image)}<div><code>{esc(asset)}</code></div><div>{facts}</div>"
        f"<div class='prompt'>{esc(row.get('prompt') or '')}</div>"
        f"<div class='status'>{esc(status)}</div><div>rules: {rules}</div><ul>{reasons}</ul>"
        f"{_scores(row)}{decide}</div>"
    )


def _status_line(row: Mapping, verdict: Mapping | None) -> tuple[str, str]:
    """What happened to the image in words, and a one-word class for its border and data-status."""
    if verdict is not None:
        word = {"approve": "approved", "reject": "rejected"}.get(verdict["decision"], verdict["decision"])
        when = verdict.get("decided_at")
        when_text = when.strftime("%Y-%m-%d %H:%M UTC") if hasattr(when, "strftime") else str(when or "")
        return f"{word} by {verdict.get('reviewer')} at {when_text}", word
    if row.get("kept") is False:
        why = f": {row['drop_reason']}" if row.get("drop_reason") else ""
        return f"dropped by selection{why}", "dropped"
    if row["decision"] == AWAITING:
        return ("pending review", "pending") if row.get("review_status", "pending") == "pending" else (
            f"review status {row.get('review_status')}", str(row.get("review_status")))
    if row["decision"] == "reject":
        return "rejected by the policy", "policy-rejected"
    return "kept, published automatically", "published"


def _pictures(row: Mapping, image: bytes) -> str:
    """The thumbnail at its native size and beside it a 2x nearest-neighbour view.

    The 2x view takes its source from the thumbnail when the page loads (the inline script), so
    each image's bytes are in the page once, not twice.
    """
    esc = html.escape
    uri = "data:image/png;base64," + base64.b64encode(image).decode("ascii")
    width, height = _png_size(image) or (row.get("width") or 64, row.get("height") or 64)
    alt = esc(f"{row['sku']} v{row['variant']}")
    return (f"<div class='pics'><img class='thumb' alt='{alt}' width='{width}' height='{height}' src='{uri}'>"
            f"<img class='thumb2x' alt='{alt} at 2x' width='{2 * width}' height='{2 * height}'></div>")


def _png_size(image: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, or None for bytes that are not a PNG."""
    if len(image) < 24 or image[:8] != b"\x89PNG\r\n\x1a\n" or image[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", image[16:24])


def _scores(row: Mapping) -> str:
    esc = html.escape
    scores = scores_of(row)
    key = [f"{esc(name)} {_fmt(scores[name])}" for name in KEY_SCORES if name in scores]
    rest = sorted(name for name in scores if name not in KEY_SCORES)
    line = f"<div class='scores'>{' · '.join(key) or 'no key scores'}</div>"
    if not rest:
        return line
    cells = "".join(f"<tr><td>{esc(name)}</td><td>{_fmt(scores[name])}</td></tr>" for name in rest)
    return f"{line}<details><summary>{len(rest)} more scores</summary><table>{cells}</table></details>"


def _fmt(value) -> str:
    """Three significant decimals is what a reviewer compares; NaN/None read 'missing'."""
    if value is None or value != value:
        return "missing"
    return f"{float(value):.3f}"


def _policy_inputs(row: Mapping) -> dict:
    """The row the policy judged (colour, asset type), or {} when the manifest predates that column."""
    try:
        inputs = json.loads(row.get("policy_inputs") or "{}")
    except ValueError:
        return {}
    return inputs if isinstance(inputs, dict) else {}


def _table(rows: Sequence[Mapping]) -> str:
    if not rows:
        return "<p>none</p>"
    header = list(rows[0])
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if row.get(h) is None else str(row.get(h)))}</td>" for h in header) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"
