"""Run-report tables and the contact sheet's structure, from hand-made manifest rows."""

import math

import pytest

from catalog_concepts.reports.contact_sheet import contact_sheet_html, thumbnail_order
from catalog_concepts.reports.publish import DEFAULT_LINK_SECONDS, MAX_LINK_SECONDS, presigned_link
from catalog_concepts.reports.tables import decision_counts, rule_counts, score_summary


def _row(sku, variant, decision, scores=None, rules=()):
    return {"asset_id": f"{sku}-{variant}", "sku": sku, "variant": variant, "decision": decision,
            "scores": scores or {}, "rule_ids": list(rules), "decision_reasons": [f"{r} fired" for r in rules]}


ROWS = [
    _row("S1", 0, "publish_labeled_preview", {"sharp": 1.0}),
    _row("S1", 1, "human_review", {"sharp": 3.0}, ["R-A"]),
    _row("S2", 0, "reject", {"sharp": 2.0, "sat": math.nan}, ["R-A", "R-B"]),
    _row("S3", 0, "human_review", {}, ["R-B"]),
]
CATEGORIES = {"S1": "mug", "S2": "lamp"}  # S3 has no known category


def test_decision_counts_by_category_with_total_row():
    assert decision_counts(ROWS, CATEGORIES) == [
        {"category": "(unknown)", "publish_labeled_preview": 0, "human_review": 1, "reject": 0, "total": 1},
        {"category": "lamp", "publish_labeled_preview": 0, "human_review": 0, "reject": 1, "total": 1},
        {"category": "mug", "publish_labeled_preview": 1, "human_review": 1, "reject": 0, "total": 2},
        {"category": "all", "publish_labeled_preview": 1, "human_review": 2, "reject": 1, "total": 4},
    ]


def test_a_rows_own_category_wins_over_the_catalog_map():
    rows = [{**ROWS[0], "category": "bag"}, ROWS[1]]
    assert [r["category"] for r in decision_counts(rows, CATEGORIES)] == ["bag", "mug", "all"]


def test_score_summary_counts_missing_and_nan_as_missing():
    assert score_summary(ROWS) == [
        {"score": "sat", "n": 0, "missing": 4, "min": None, "median": None, "mean": None, "max": None},
        {"score": "sharp", "n": 3, "missing": 1, "min": 1.0, "median": 2.0, "mean": 2.0, "max": 3.0},
    ]


def test_rule_counts_most_frequent_first():
    assert rule_counts(ROWS) == [{"rule_id": "R-A", "images": 2}, {"rule_id": "R-B", "images": 2}]


@pytest.mark.parametrize("cap, expected", [(0, set()), (2, {"S1-1", "S3-0"}), (3, {"S1-1", "S3-0", "S2-0"}), (10, {r["asset_id"] for r in ROWS})])
def test_thumbnails_go_to_review_then_reject_then_published(cap, expected):
    assert thumbnail_order(ROWS, cap) == expected


def test_a_dropped_candidate_gets_a_picture_last():
    rows = ROWS + [{**_row("S5", 0, "human_review", rules=["R-A"]), "kept": False}]
    assert "S5-0" not in thumbnail_order(rows, len(ROWS)) and "S5-0" in thumbnail_order(rows, len(rows))


def test_sheet_groups_by_decision_and_rule_and_escapes_text():
    rows = ROWS + [_row("<b>S4</b>", 0, "reject", rules=["R-<x>"])]
    page = contact_sheet_html("run <1>", rows, {"S1-1": b"\x89PNG", "S3-0": b"\x89PNG"}, CATEGORIES)
    assert page.count("<img class='thumb'") == 2 and page.count("<img class='thumb2x'") == 2
    assert page.count("<section class='decision'") == 3  # human_review, reject, publish_labeled_preview
    # human_review: R-A, R-B; reject: R-A + R-B, R-<x>; published: (no rule)
    assert page.count("<div class='group'") == 5
    assert "<b>S4</b>" not in page and "&lt;b&gt;S4&lt;/b&gt;" in page and "R-&lt;x&gt;" in page
    assert "run &lt;1&gt;" in page


@pytest.mark.parametrize("seconds", [0, MAX_LINK_SECONDS + 1, True, 1.5])
def test_links_live_at_most_seven_days(s3, seconds):
    with pytest.raises(ValueError, match=f"1..{MAX_LINK_SECONDS}"):
        presigned_link(s3, "reports/x.html", seconds)


def test_the_default_link_outlives_a_working_day():
    assert DEFAULT_LINK_SECONDS == 24 * 3600 <= MAX_LINK_SECONDS == 7 * 24 * 3600


def test_scores_read_back_from_parquet_as_pairs_count_the_same():
    as_pairs = [{**row, "scores": list(row["scores"].items())} for row in ROWS]
    assert score_summary(as_pairs) == score_summary(ROWS)
