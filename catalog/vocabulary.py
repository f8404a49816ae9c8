"""The closed vocabulary shared by the catalog, the prompt builder and the embedded model.

The embedded model is trained on captions built from exactly these words, so a
catalog that stays inside them gets images the model can actually draw.
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
