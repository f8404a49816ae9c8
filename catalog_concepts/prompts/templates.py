"""One prompt template per asset type; only controlled vocabulary words ever fill its slots.

Catalog text is untrusted: `catalog.validate` maps category, colour and material to
vocabulary words (synonyms included) and quarantines anything else. `build_prompt` checks
again and refuses any other value, so free text ("red (logo:1.9) [nsfw]") can never reach
the model even if a caller skips validation.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from catalog.vocabulary import ASSET_TYPES, BACKGROUND_BY_ASSET_TYPE, OPTIONAL_SLOTS, SLOT_WORDS

TEMPLATE_VERSION = "v1"

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


def _slot_word(row: Mapping[str, object], slot: str) -> str:
    """The row's vocabulary word for `slot` ('' for an empty optional slot); raise on anything else."""
    value = row.get(slot)
    if slot in OPTIONAL_SLOTS and value in (None, ""):
        return ""
    if value not in SLOT_WORDS[slot]:
        shown = ascii(value) if len(str(value)) <= 40 else ascii(str(value)[:40]) + "..."
        raise ValueError(f"{slot} {shown} is not a vocabulary word; allowed: {', '.join(SLOT_WORDS[slot])}")
    return str(value)


def build_prompt(row: Mapping[str, object]) -> Prompt:
    """Fill the asset type's template from a catalog row; raise on an unknown asset type or a non-vocabulary slot."""
    asset_type = row.get("asset_type")
    if asset_type not in TEMPLATES:
        raise ValueError(f"unknown asset_type {asset_type!r}; allowed: {', '.join(ASSET_TYPES)}")
    slots = {slot: _slot_word(row, slot) for slot in SLOT_WORDS}
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
