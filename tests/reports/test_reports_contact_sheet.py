"""The contact sheet's content as a review tool, from hand-made manifest rows (the browser tests click it)."""

import datetime as dt
import io
import json
import re

import numpy as np
import pyarrow as pa
from PIL import Image

from catalog_concepts.reports.contact_sheet import contact_sheet_html, rule_group, section_of, thumbnail_order
from catalog_concepts.reports.rerender import latest_verdicts


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 120, dtype=np.uint8)).save(buffer, format="PNG")  # (H, W, 3)
    return buffer.getvalue()


def _row(sku, variant, decision, rules=(), kept=True, status=None, **extra):
    status = status or {"human_review": "pending", "reject": "not_applicable"}.get(decision, "not_required")
    return {
        "asset_id": (f"{sku.lower()}{variant}" + "0" * 32)[:32], "sku": sku, "variant": variant, "decision": decision,
        "rule_ids": list(rules), "decision_reasons": [f"{r}: the message of {r}" for r in rules],
        "scores": {"alignment": 0.123456, "sharpness": 41.98765, "mean_saturation": 0.33333, "clipped_dark_fraction": 0.0},
        "kept": kept, "review_status": "not_applicable" if kept is False else status, "category": "mug",
        "prompt": f"package damage mockup, a red ceramic mug ({sku})",
        "policy_inputs": json.dumps({"color": "red", "asset_type": "package_damage_mockup"}),
        "drop_reason": None if kept is not False else "below top-1 of SKU", **extra,
    }


ROWS = [
    _row("S1", 0, "human_review", ["DMG-001"]),
    _row("S2", 0, "human_review", ["DMG-001"]),
    _row("S3", 0, "human_review", ["ALIGN-001", "DMG-001"]),
    _row("S1", 1, "human_review", ["DMG-001"], kept=False),
    _row("S4", 0, "reject", ["SAFE-001"]),
    _row("S5", 0, "publish_labeled_preview"),
]
IMAGES = {row["asset_id"]: _png(64, 48) for row in ROWS}


def _card(page: str, asset: str) -> str:
    """The HTML of one image's card."""
    (card,) = [piece for piece in page.split("<div class='card ")[1:] if f"data-asset-id='{asset}' data-status=" in piece]
    return card


def test_sections_put_the_reviewers_work_first_and_the_dropped_last():
    page = contact_sheet_html("run", ROWS, IMAGES, {}, run_id="run-1")
    sections = re.findall(r"data-section='([^']+)'", page)
    assert sections == ["human_review", "reject", "publish_labeled_preview", "dropped"]
    assert section_of(ROWS[3]) == "dropped" and rule_group(ROWS[2]) == "ALIGN-001 + DMG-001" and rule_group(ROWS[5]) == "(no rule)"
    assert re.findall(r"<div class='group' data-group='([^']+)'", page) == [
        "human_review|ALIGN-001 + DMG-001", "human_review|DMG-001", "reject|SAFE-001",
        "publish_labeled_preview|(no rule)", "dropped|DMG-001"]


def test_a_card_shows_the_full_id_prompt_category_colour_rules_and_rounded_scores():
    page = contact_sheet_html("run", ROWS, IMAGES, {}, run_id="run-1")
    card = _card(page, ROWS[0]["asset_id"])
    assert f"<code>{ROWS[0]['asset_id']}</code>" in card and len(ROWS[0]["asset_id"]) == 32
    assert "package damage mockup, a red ceramic mug (S1)" in card
    assert "S1 · v0 · mug · red · package_damage_mockup" in card
    assert "rules: DMG-001" in card and "<li>DMG-001: the message of DMG-001</li>" in card
    # Key scores rounded on the card, the rest behind a disclosure.
    assert "alignment 0.123 · sharpness 41.988" in card
    assert "<details><summary>2 more scores</summary>" in card and "<td>mean_saturation</td><td>0.333</td>" in card
    assert "pending review" in card


def test_thumbnails_at_native_size_beside_a_2x_view():
    page = contact_sheet_html("run", ROWS, IMAGES, {}, run_id="run-1")
    assert page.count("<img class='thumb' alt='S1 v0' width='64' height='48'") == 1
    assert page.count("<img class='thumb2x' alt='S1 v0 at 2x' width='128' height='96'") == 1


def test_only_images_awaiting_a_person_get_boxes_and_groups_count_them():
    page = contact_sheet_html("run", ROWS, IMAGES, {}, run_id="run-1")
    boxed = set(re.findall(r"class='decide-box' data-asset-id='([^']+)'", page))
    assert boxed == {r["asset_id"] for r in ROWS[:3]}  # not the dropped, rejected or published ones
    assert "approve all 2 of DMG-001 in this run" in page and "reject all 2 of DMG-001 in this run" in page
    assert "approve all 1 of ALIGN-001 + DMG-001 in this run" in page
    assert "SAFE-001 in this run" not in page and page.count("class='group-box'") == 4
    dropped = _card(page, ROWS[3]["asset_id"])
    assert "data-status='dropped'" in dropped and "dropped by selection: below top-1 of SKU" in dropped
    assert "<p id='totals'>6 images, 5 SKUs, 6 shown, 3 awaiting review, 0 reviewed</p>" in page


def test_after_review_a_card_says_who_decided_and_when_and_has_no_boxes():
    decided_at = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC)
    log = [
        {"asset_id": ROWS[0]["asset_id"], "decision": "approve", "reviewer": "ana", "decided_at": decided_at, "batch_id": "b-1"},
        {"asset_id": ROWS[1]["asset_id"], "decision": "reject", "reviewer": "bo", "decided_at": decided_at, "batch_id": "b-2"},
    ]
    verdicts = latest_verdicts(pa.Table.from_pylist(log))
    page = contact_sheet_html("run", ROWS, IMAGES, {}, verdicts=verdicts, run_id="run-1")
    assert "approved by ana at 2026-11-21 09:30 UTC" in _card(page, ROWS[0]["asset_id"])
    assert "data-status='approved'" in _card(page, ROWS[0]["asset_id"])
    assert "rejected by bo at 2026-11-21 09:30 UTC" in _card(page, ROWS[1]["asset_id"])
    assert set(re.findall(r"class='decide-box' data-asset-id='([^']+)'", page)) == {ROWS[2]["asset_id"]}
    assert "of DMG-001 in this run" not in page  # its two images are decided: no group boxes left
    assert "1 awaiting review, 2 reviewed" in page


def test_the_page_is_self_contained():
    page = contact_sheet_html("run", ROWS, IMAGES, {}, run_id="run-1")
    assert not re.search(r"(src|href)=['\"](https?:)?//", page)
    assert "fetch(" not in page and "XMLHttpRequest" not in page
    assert "data-run-id='run-1'" in page and "decisions-\" + panel.dataset.runId + \".csv" in page


def test_waiting_images_past_the_thumbnail_cap_are_listed_and_pointed_to_the_shell():
    shown = {ROWS[0]["asset_id"]: IMAGES[ROWS[0]["asset_id"]]}
    page = contact_sheet_html("run", ROWS, shown, {}, run_id="run-1")
    assert "approve all 1 of DMG-001 in this run" in page
    assert "1 more waiting without a picture here" in page  # S2 of DMG-001
    assert f"<code>{ROWS[1]['asset_id']}</code> S2 v0 not shown" in page
    assert set(re.findall(r"class='decide-box' data-asset-id='([^']+)'", page)) == {ROWS[0]["asset_id"]}


def test_a_re_rendered_sheet_spends_its_pictures_on_what_is_left_to_decide():
    decided = {ROWS[0]["asset_id"]: {"decision": "approve"}, ROWS[1]["asset_id"]: {"decision": "reject"}}
    assert thumbnail_order(ROWS, 1) == {ROWS[0]["asset_id"]}
    assert thumbnail_order(ROWS, 1, decided) == {ROWS[2]["asset_id"]}
    assert thumbnail_order(ROWS, 3, decided) == {r["asset_id"] for r in ROWS[:3]}
