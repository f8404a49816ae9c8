"""policies/routing.py: the one table from (policy action, kept) to storage area and review status."""

import pytest

from catalog_concepts.storage.keys import ASSET_AREAS, asset_key
from policies.load import ACTIONS
from policies.routing import AREAS, Route, route


@pytest.mark.parametrize(
    "action,kept,expected",
    [
        ("publish_labeled_preview", True, Route("images", "not_required")),
        ("human_review", True, Route("review", "pending")),
        ("reject", True, Route("rejected", "not_applicable")),
        # Dropped by variant selection: stored for audit, never published, nobody asked to review it.
        ("publish_labeled_preview", False, Route("rejected", "not_applicable")),
        ("human_review", False, Route("rejected", "not_applicable")),
        ("reject", False, Route("rejected", "not_applicable")),
    ],
)
def test_route_table(action, kept, expected):
    assert route(action, kept) == expected


def test_every_action_and_area_is_routed_and_keyed():
    assert {route(a, True).area for a in ACTIONS} == set(AREAS) == set(ASSET_AREAS)
    key = asset_key("review", "2026-12-02-abc", "SKU-1", 3)
    assert key.startswith("review/run=2026-12-02-abc/") and key.endswith("/v3.png")


def test_unknown_action_and_area_are_refused_with_the_allowed_list():
    with pytest.raises(ValueError, match="unknown policy action 'publish'.*allowed: publish_labeled_preview, human_review, reject"):
        route("publish", True)
    with pytest.raises(ValueError, match="invalid asset area 'public'.*allowed images, review, rejected"):
        asset_key("public", "r1", "SKU-1", 0)
