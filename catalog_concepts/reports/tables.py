"""Run-report tables from manifest rows: counts by decision and category, score summaries."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

DECISION_ORDER: tuple[str, ...] = ("publish_labeled_preview", "human_review", "reject")
UNKNOWN_CATEGORY = "(unknown)"


def decision_counts(rows: Sequence[Mapping], category_by_sku: Mapping[str, str]) -> list[dict]:
    """One row per category: images per decision and in total, plus a final 'all' row."""
    counts: Counter = Counter()
    for row in rows:
        counts[(category_of(row, category_by_sku), row["decision"])] += 1
    decisions = list(DECISION_ORDER) + sorted({d for _, d in counts} - set(DECISION_ORDER))
    categories = sorted({c for c, _ in counts})
    table = []
    for category in [*categories, "all"]:
        line = {"category": category}
        for decision in decisions:
            line[decision] = sum(n for (c, d), n in counts.items() if d == decision and category in (c, "all"))
        line["total"] = sum(line[d] for d in decisions)
        table.append(line)
    return table


def score_summary(rows: Sequence[Mapping]) -> list[dict]:
    """Per score name: how many images have it, how many lack it, and min / median / mean / max."""
    names = sorted({name for row in rows for name in scores_of(row)})
    table = []
    for name in names:
        values = sorted(
            float(v) for row in rows if (v := scores_of(row).get(name)) is not None and math.isfinite(v)
        )
        line = {"score": name, "n": len(values), "missing": len(rows) - len(values)}
        if values:
            middle = len(values) // 2
            median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
            line.update(min=_round(values[0]), median=_round(median), mean=_round(sum(values) / len(values)), max=_round(values[-1]))
        else:
            line.update(min=None, median=None, mean=None, max=None)
        table.append(line)
    return table


def rule_counts(rows: Sequence[Mapping]) -> list[dict]:
    """How often each policy rule fired, most frequent first."""
    counts = Counter(rule for row in rows for rule in (row.get("rule_ids") or ()))
    return [{"rule_id": rule, "images": n} for rule, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def category_of(row: Mapping, category_by_sku: Mapping[str, str]) -> str:
    """The row's own category (manifests carry it since selection), else the catalog's, else '(unknown)'."""
    return row.get("category") or category_by_sku.get(row["sku"]) or UNKNOWN_CATEGORY


def scores_of(row: Mapping) -> dict:
    """A row's scores as a dict (Arrow map columns read back as lists of (name, value) pairs)."""
    scores = row.get("scores") or {}
    return dict(scores) if isinstance(scores, (list, tuple)) else scores


def _round(value: float) -> float:
    return round(value, 4)
