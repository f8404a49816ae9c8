"""Where a judged candidate goes: (policy action, kept by variant selection) -> storage area, review status.

The one table of the pipeline's routing. Only a kept preview is published; a kept review candidate
waits unpublished for a person; a rejected candidate, and any candidate selection dropped (a
lower-ranked variant of its SKU), is stored for audit only and nobody is asked to review it.
"""

from dataclasses import dataclass

from policies.load import ACTIONS

AREAS: tuple[str, ...] = ("images", "review", "rejected")


@dataclass(frozen=True)
class Route:
    """area: the key prefix the image is stored under (catalog_concepts.storage.keys.asset_key); review_status: its manifest value."""

    area: str
    review_status: str


_KEPT = {
    "publish_labeled_preview": Route("images", "not_required"),
    "human_review": Route("review", "pending"),
    "reject": Route("rejected", "not_applicable"),
}
_DROPPED = Route("rejected", "not_applicable")


def route(action: str, kept: bool) -> Route:
    """The storage area and review status of a candidate the policy gave `action` and selection kept or dropped."""
    if action not in _KEPT:
        raise ValueError(f"unknown policy action {action!r}; allowed: {', '.join(ACTIONS)}")
    return _KEPT[action] if kept else _DROPPED
