"""The closed vocabulary shared by the catalog, the prompt builder and the embedded model.

The embedded model is trained on captions built from exactly these words, so a
catalog that stays inside them gets images the model can actually draw. A catalog may
also use the synonyms listed below (case and surrounding whitespace do not matter):
validation maps them to their word, and quarantines any other value.
"""

CATEGORIES: tuple[str, ...] = ("table", "chair", "lamp", "sofa", "mug", "shoe", "shirt", "bag")

# Eight hues that stay distinguishable from every background at 64x64.
COLORS: tuple[str, ...] = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink")

MATERIALS: tuple[str, ...] = ("wood", "metal", "fabric", "leather", "ceramic", "plastic")

# Materials a product of each category is plausibly made of (the sample catalog and
# the training set draw only these pairs).
MATERIALS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "table": ("wood", "metal", "plastic"),
    "chair": ("wood", "metal", "plastic", "fabric"),
    "lamp": ("metal", "ceramic", "plastic"),
    "sofa": ("fabric", "leather"),
    "mug": ("ceramic", "metal", "plastic"),
    "shoe": ("leather", "fabric"),
    "shirt": ("fabric",),
    "bag": ("leather", "fabric", "plastic"),
}

ASSET_TYPES: tuple[str, ...] = (
    "campaign_background",
    "lifestyle_scene",
    "product_detail_view",
    "package_damage_mockup",
)

# Each asset type is staged on one scene; the scene is what the model draws behind the product.
BACKGROUNDS: tuple[str, ...] = ("gradient", "wood_floor", "studio_white", "dark")
BACKGROUND_BY_ASSET_TYPE: dict[str, str] = {
    "campaign_background": "gradient",
    "lifestyle_scene": "wood_floor",
    "product_detail_view": "studio_white",
    "package_damage_mockup": "dark",
}

LOCALES: tuple[str, ...] = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "nl-NL", "sv-SE")

# Synonyms a catalog may use for a slot word, mapped to the word the template and the model know.
# Deliberately conservative: only spellings (plurals, US/UK) and names of the same thing or of a
# shade the 64x64 model draws as that hue. Anything else (black, white, grey, beige, "desk",
# "glass", ...) is quarantined, because the model would draw something else.
CATEGORY_SYNONYMS: dict[str, str] = {
    "tables": "table",
    "chairs": "chair",
    "lamps": "lamp",
    "sofas": "sofa", "couch": "sofa", "couches": "sofa",
    "mugs": "mug",
    "shoes": "shoe",
    "shirts": "shirt",
    "bags": "bag",
}
COLOR_SYNONYMS: dict[str, str] = {
    "crimson": "red", "scarlet": "red", "burgundy": "red", "maroon": "red",
    "tangerine": "orange",
    "mustard": "yellow", "lemon": "yellow",
    "olive": "green", "sage": "green", "emerald": "green", "lime": "green",
    "turquoise": "teal", "aqua": "teal",
    "navy": "blue", "navy blue": "blue", "cobalt": "blue", "azure": "blue", "sky blue": "blue",
    "violet": "purple", "lilac": "purple", "lavender": "purple", "plum": "purple",
    "rose": "pink", "blush": "pink", "fuchsia": "pink",
}
MATERIAL_SYNONYMS: dict[str, str] = {
    "wooden": "wood", "oak": "wood", "walnut": "wood", "ash": "wood", "birch": "wood", "pine": "wood",
    "teak": "wood", "beech": "wood",
    "metallic": "metal", "steel": "metal", "stainless steel": "metal", "aluminium": "metal",
    "aluminum": "metal", "brass": "metal", "iron": "metal", "copper": "metal",
    "cotton": "fabric", "linen": "fabric", "wool": "fabric", "canvas": "fabric", "velvet": "fabric",
    "textile": "fabric",
    "suede": "leather",
    "ceramics": "ceramic", "porcelain": "ceramic", "stoneware": "ceramic", "earthenware": "ceramic",
    "polypropylene": "plastic", "polycarbonate": "plastic",
}

# The catalog columns that fill prompt slots, with their words and synonyms.
SLOT_WORDS: dict[str, tuple[str, ...]] = {"category": CATEGORIES, "color": COLORS, "material": MATERIALS}
SLOT_SYNONYMS: dict[str, dict[str, str]] = {
    "category": CATEGORY_SYNONYMS,
    "color": COLOR_SYNONYMS,
    "material": MATERIAL_SYNONYMS,
}
# A product's material may be unknown: its slot is then left out of the prompt.
OPTIONAL_SLOTS: tuple[str, ...] = ("material",)


def _check_slot(slot: str) -> None:
    """Raise ValueError unless `slot` is one of SLOT_WORDS."""
    if slot not in SLOT_WORDS:
        raise ValueError(f"unknown prompt slot {slot!r}; allowed: {', '.join(SLOT_WORDS)}")


def canonical_word(slot: str, value: object) -> str | None:
    """The vocabulary word `value` names for `slot` (case, outer whitespace and synonyms folded), else None."""
    _check_slot(slot)
    if not isinstance(value, str):
        return None
    key = " ".join(value.split()).casefold()
    if key in SLOT_WORDS[slot]:
        return key
    return SLOT_SYNONYMS[slot].get(key)


def canonical_category(value: object) -> str | None:
    """The category word `value` names (e.g. 'Couch' -> 'sofa'), else None."""
    return canonical_word("category", value)


def canonical_color(value: object) -> str | None:
    """The colour word `value` names (e.g. ' Navy ' -> 'blue'), else None."""
    return canonical_word("color", value)


def canonical_material(value: object) -> str | None:
    """The material word `value` names (e.g. 'Walnut' -> 'wood'), else None."""
    return canonical_word("material", value)


def allowed_words(slot: str) -> str:
    """The words `slot` accepts with their synonyms, e.g. 'red (or crimson, scarlet), orange, ...'."""
    _check_slot(slot)
    parts = []
    for word in SLOT_WORDS[slot]:
        synonyms = [synonym for synonym, target in SLOT_SYNONYMS[slot].items() if target == word]
        parts.append(f"{word} (or {', '.join(synonyms)})" if synonyms else word)
    return ", ".join(parts)
