"""plan_images: a row whose slots are not vocabulary words becomes a PlanError, never a prompt."""

from datetime import UTC, datetime

from catalog.schema import catalog_row_hash
from catalog_concepts.prompts.requests import plan_images

ROW = {
    "sku": "TBL-0000001", "title": "Oslo Oak Dining Table", "category": "table", "color": "teal", "material": "wood",
    "brand": "Nordvik", "description": None, "asset_type": "lifestyle_scene", "claims_real_sku": False,
    "has_logo": True, "locale": "en-US", "updated_at": datetime(2025, 6, 1, tzinfo=UTC),
}


def test_free_text_slot_becomes_a_plan_error_and_good_rows_plan():
    hostile = {**ROW, "sku": "TBL-0000002", "color": "red (logo:1.9) [nsfw]"}
    planned, errors = plan_images(
        [ROW, hostile], run_id="run-1", run_seed=7, variants_per_sku=2, row_hash=catalog_row_hash
    )
    assert [p.request.prompt for p in planned] == ["lifestyle scene, a teal wood table on a wood floor"] * 2
    assert [(e.sku, e.reason.split(";")[0]) for e in errors] == [
        ("TBL-0000002", "prompt: color 'red (logo:1.9) [nsfw]' is not a vocabulary word")
    ]
