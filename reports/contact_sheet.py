"""A run's contact sheet: one self-contained HTML page, thumbnails inline, grouped by SKU and decision.

Thumbnails are data URIs so the page works from a single presigned link (a relative link to
another object would need its own signature). Past `max_thumbnails` images are listed without
a picture, people-facing decisions (review, reject) first, so a 10,000-SKU run stays a page
a browser can open.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence

from reports.tables import DECISION_ORDER, category_of, decision_counts, rule_counts, score_summary, scores_of

DEFAULT_MAX_THUMBNAILS = 1000
# Which images get a picture first when the cap bites: the ones a person must look at.
_THUMBNAIL_PRIORITY = {"human_review": 0, "reject": 1, "publish_labeled_preview": 2}

_STYLE = """
body{font:14px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}
section.sku{background:#fff;border:1px solid #ddd;margin:10px 0;padding:8px}
.group{margin:4px 0}.group h4{margin:4px 0}
.card{display:inline-block;vertical-align:top;width:190px;margin:4px;font-size:11px}
img.thumb{width:128px;height:128px;image-rendering:pixelated;border:3px solid #888;display:block}
.publish_labeled_preview img.thumb{border-color:#2a2}.human_review img.thumb{border-color:#e90}.reject img.thumb{border-color:#c22}
.line{font-size:11px;color:#666}
"""


def thumbnail_order(rows: Sequence[Mapping], max_thumbnails: int) -> set[str]:
    """Asset ids that get an inline picture: review first, then reject, then published; capped."""
    ranked = sorted(rows, key=lambda r: (_THUMBNAIL_PRIORITY.get(r["decision"], 3), r["sku"], r["variant"]))
    return {row["asset_id"] for row in ranked[: max(0, max_thumbnails)]}


def contact_sheet_html(
    title: str,
    rows: Sequence[Mapping],
    images: Mapping[str, bytes],
    category_by_sku: Mapping[str, str],
    links: Mapping[str, str] | None = None,
) -> str:
    """The page: summary tables, then one section per SKU with its images grouped by decision."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p id='totals'>{len(rows)} images, {len({r['sku'] for r in rows})} SKUs, "
        f"{sum(1 for r in rows if r['asset_id'] in images)} shown</p>",
    ]
    for name, uri in (links or {}).items():
        parts.append(f"<p>{esc(name)}: <code>{esc(uri)}</code></p>")
    parts.append("<h2>Decisions by category</h2>" + _table(decision_counts(rows, category_by_sku)))
    parts.append("<h2>Scores</h2>" + _table(score_summary(rows)))
    parts.append("<h2>Policy rules fired</h2>" + _table(rule_counts(rows)))
    by_sku: dict[str, list[Mapping]] = {}
    for row in rows:
        by_sku.setdefault(row["sku"], []).append(row)
    parts.append("<h2>Images</h2>")
    for sku in sorted(by_sku, key=lambda s: (min(_THUMBNAIL_PRIORITY.get(r["decision"], 3) for r in by_sku[s]), s)):
        category = category_of(by_sku[sku][0], category_by_sku)
        parts.append(f"<section class='sku' data-sku='{esc(sku)}'><h3>{esc(sku)} <small>{esc(category)}</small></h3>")
        for decision in _decisions_in(by_sku[sku]):
            group = sorted((r for r in by_sku[sku] if r["decision"] == decision), key=lambda r: r["variant"])
            parts.append(f"<div class='group {esc(decision)}'><h4>{esc(decision)} ({len(group)})</h4>")
            parts.extend(_card(row, images.get(row["asset_id"])) for row in group)
            parts.append("</div>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _decisions_in(rows: Sequence[Mapping]) -> list[str]:
    present = {r["decision"] for r in rows}
    return [d for d in DECISION_ORDER if d in present] + sorted(present - set(DECISION_ORDER))


def _card(row: Mapping, image: bytes | None) -> str:
    esc = html.escape
    rules = ", ".join(esc(r) for r in row.get("rule_ids") or ()) or "none"
    label = f"v{row['variant']} <code>{esc(row['asset_id'][:12])}</code>"
    if image is None:
        # Past the thumbnail cap one line per image: its scores and reasons stay in the manifest.
        return f"<div class='line'>{label} not shown; rules: {rules}</div>"
    uri = "data:image/png;base64," + base64.b64encode(image).decode("ascii")
    picture = f"<img class='thumb' alt='{esc(row['sku'])} v{row['variant']}' data-asset-id='{esc(row['asset_id'])}' src='{uri}'>"
    scores = ", ".join(f"{esc(k)}={v:.3g}" for k, v in sorted(scores_of(row).items()))
    reasons = "".join(f"<li>{esc(r)}</li>" for r in row.get("decision_reasons") or ())
    return f"<div class='card'>{picture}<div>{label}</div><div>rules: {rules}</div><div>{scores}</div><ul>{reasons}</ul></div>"


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
