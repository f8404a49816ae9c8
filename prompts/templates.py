"""One prompt template per asset type; catalog fields only ever fill its slots."""

from collections.abc import Mapping
from dataclasses import dataclass

from catalog.vocabulary import ASSET_TYPES, BACKGROUND_BY_ASSET_TYPE
from prompts.sanitize import clean_slot

TEMPLATE_VERSION = "v1"

# Slot name -> longest text a catalog value may put into it.
SLOT_LIMITS: dict[str, int] = {"color": 24, "material": 24, "category": 24}

# How each scene is said in a prompt. The embedded model learned these exact phrases.
SCENE_PHRASES: dict[str, str] = {
    "gradient": "on a soft gradient backdrop",
    "wood_floor": "on a wood floor",
    "studio_white": "on a studio white background",
    "dark": "on a dark backdrop",
}

TEMPLATES: dict[str, str] = {
    "campaign_background": "campaign concept, a {color} {material} {category} {scene}",
    "lifestyle_scene": "lifestyle scene, a {color} {material} {category} {scene}",
    "product_detail_view": "product detail view, a {color} {material} {category} {scene}",
    "package_damage_mockup": "package damage mockup, a {color} {material} {category} {scene}",
}

# Fixed per template; catalog text never reaches it.
NEGATIVE_PROMPT = "text, watermark, logo, lettering, blurry, distorted, low quality"


@dataclass(frozen=True)
class Prompt:
    """A filled template: the text the model sees and what it was built from."""

    text: str
    negative: str
    template_id: str
    template_version: str
    background: str


def build_prompt(row: Mapping[str, object]) -> Prompt:
    """Fill the asset type's template from a catalog row; raise on an unknown asset type."""
    asset_type = row.get("asset_type")
    if asset_type not in TEMPLATES:
        raise ValueError(f"unknown asset_type {asset_type!r}; allowed: {', '.join(ASSET_TYPES)}")
    slots = {name: clean_slot(row.get(name), limit) for name, limit in SLOT_LIMITS.items()}
    missing = [name for name in ("category", "color") if not slots[name]]
    if missing:
        raise ValueError(f"prompt slot(s) empty after cleaning: {', '.join(missing)}")
    background = BACKGROUND_BY_ASSET_TYPE[asset_type]
    text = TEMPLATES[asset_type].format(scene=SCENE_PHRASES[background], **slots)
    text = " ".join(text.split())  # an empty material slot leaves a double space
    return Prompt(
        text=text,
        negative=NEGATIVE_PROMPT,
        template_id=f"{asset_type}/{TEMPLATE_VERSION}",
        template_version=TEMPLATE_VERSION,
        background=background,
    )
