"""A seeded, deterministic sample catalog, optionally with deliberately bad rows appended.

Bad rows come after the `n` good rows, cycling through `BAD_ROW_KINDS`: row `n + k`
is of kind `BAD_ROW_KINDS[k % len(BAD_ROW_KINDS)]`, and each kind breaks exactly one
rule of `catalog.validate`, so its quarantine reason is known in advance. Hostile rows
(twin SKUs, control characters, invalid UTF-8, ...) are in `catalog.hostile_sample`.
"""

import random
from datetime import UTC, datetime, timedelta
from os import PathLike
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from catalog.canonical import vocabulary_reason
from catalog.schema import CATALOG_SCHEMA, TEXT_LIMITS
from catalog.vocabulary import ASSET_TYPES, CATEGORIES, COLORS, LOCALES, MATERIALS_BY_CATEGORY
from catalog_concepts.assets import packaged

# The packaged sample: 48 good rows, then one bad row of every kind.
SAMPLE_CATALOG_PATH = packaged("catalog", "samples", "sample_catalog.parquet")
SAMPLE_GOOD_ROWS = 48
SAMPLE_SEED = 0

# Bad-row kind -> the quarantine reason `catalog.validate` gives it.
BAD_ROW_KINDS: dict[str, str] = {
    "null_sku": "expect_column_values_to_not_be_null(sku)",
    "duplicate_sku": "expect_column_values_to_be_unique(sku)",
    "unknown_category": vocabulary_reason("category"),
    "unknown_asset_type": "expect_column_values_to_be_in_set(asset_type)",
    "title_too_long": "expect_column_value_lengths_to_be_between(title)",
    "null_claims_real_sku": "expect_column_values_to_not_be_null(claims_real_sku)",
    "unknown_locale": "expect_column_values_to_be_in_set(locale)",
    "empty_color": "expect_column_value_lengths_to_be_between(color)",
    "null_has_logo": "expect_column_values_to_not_be_null(has_logo)",
    "description_too_long": "expect_column_value_lengths_to_be_between(description)",
}

# Fictional collection names and brands: nothing here names a real product.
_COLLECTIONS = (
    "Oslo", "Bergen", "Malmo", "Aarhus", "Tampere", "Lund", "Visby", "Odense",
    "Trondheim", "Uppsala", "Turku", "Skagen", "Kalmar", "Narvik", "Espoo", "Ribe",
)
_BRANDS = ("Nordvik", "Halden & Co", "Fjordline", "Kestrel Home", "Umbra Works", "Lindqvist")
_MATERIAL_WORDS: dict[str, tuple[str, ...]] = {
    "wood": ("Oak", "Walnut", "Ash", "Birch"),
    "metal": ("Steel", "Brass", "Aluminium"),
    "fabric": ("Linen", "Cotton", "Wool"),
    "leather": ("Leather", "Suede"),
    "ceramic": ("Stoneware", "Porcelain"),
    "plastic": ("Moulded", "Recycled"),
}
_PRODUCT_NOUNS: dict[str, tuple[str, ...]] = {
    "table": ("Dining Table", "Side Table", "Coffee Table", "Desk"),
    "chair": ("Dining Chair", "Armchair", "Lounge Chair", "Stool"),
    "lamp": ("Table Lamp", "Floor Lamp", "Pendant Lamp"),
    "sofa": ("Sofa", "Loveseat", "Corner Sofa"),
    "mug": ("Mug", "Travel Mug", "Espresso Cup"),
    "shoe": ("Sneaker", "Loafer", "Ankle Boot"),
    "shirt": ("Oxford Shirt", "Overshirt", "Tee"),
    "bag": ("Tote Bag", "Backpack", "Crossbody Bag"),
}
_SKU_PREFIX: dict[str, str] = {
    "table": "TBL", "chair": "CHR", "lamp": "LMP", "sofa": "SOF",
    "mug": "MUG", "shoe": "SHO", "shirt": "SHT", "bag": "BAG",
}
# en-US dominates a real catalog; the rest share what is left.
_LOCALE_WEIGHTS = tuple(0.5 if locale == "en-US" else 0.5 / (len(LOCALES) - 1) for locale in LOCALES)
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _article(word: str) -> str:
    """'An' before a vowel sound, else 'A' (good enough for the colour words)."""
    return "An" if word[:1] in "aeiou" else "A"


def _good_row(rng: random.Random, index: int) -> dict[str, object]:
    """One valid, realistic catalog row."""
    category = rng.choice(CATEGORIES)
    material = rng.choice(MATERIALS_BY_CATEGORY[category])
    color = rng.choice(COLORS)
    collection = rng.choice(_COLLECTIONS)
    noun = rng.choice(_PRODUCT_NOUNS[category])
    brand = rng.choice(_BRANDS)
    title = f"{collection} {rng.choice(_MATERIAL_WORDS[material])} {noun}"
    description = (
        f"{_article(color)} {color} {material} {noun.lower()} from the {collection} collection by {brand}. "
        f"Designed for everyday use and built to last."
    )
    return {
        "sku": f"{_SKU_PREFIX[category]}-{index:07d}",
        "title": title,
        "category": category,
        "color": color,
        "material": material,
        "brand": None if rng.random() < 0.05 else brand,
        "description": None if rng.random() < 0.10 else description,
        "asset_type": rng.choice(ASSET_TYPES),
        "claims_real_sku": rng.random() < 0.10,
        "has_logo": rng.random() < 0.05,
        "locale": rng.choices(LOCALES, weights=_LOCALE_WEIGHTS)[0],
        "updated_at": _EPOCH - timedelta(seconds=rng.randrange(365 * 24 * 3600)),
    }


def _bad_row(rng: random.Random, kind: str, k: int, good_skus: list[str]) -> dict[str, object]:
    """A row that is valid except for the one fault named by `kind`."""
    row = _good_row(rng, 0)
    row["sku"] = f"BAD-{kind}-{k:04d}"
    if kind == "null_sku":
        row["sku"] = None
    elif kind == "duplicate_sku":
        row["sku"] = good_skus[k % len(good_skus)]
    elif kind == "unknown_category":
        row["category"] = "spaceship"
    elif kind == "unknown_asset_type":
        row["asset_type"] = "billboard_takeover"
    elif kind == "title_too_long":
        row["title"] = ("Extra Long Title " * 20)[: TEXT_LIMITS["title"] + 1]
    elif kind == "null_claims_real_sku":
        row["claims_real_sku"] = None
    elif kind == "unknown_locale":
        row["locale"] = "xx-XX"
    elif kind == "empty_color":
        row["color"] = ""
    elif kind == "null_has_logo":
        row["has_logo"] = None
    elif kind == "description_too_long":
        row["description"] = "x" * (TEXT_LIMITS["description"] + 1)
    else:
        raise ValueError(f"unknown bad-row kind {kind!r}; allowed: {', '.join(BAD_ROW_KINDS)}")
    return row


def make_sample_catalog(n: int = 10_000, seed: int = 0, bad_rows: int = 0) -> pa.Table:
    """Build `n` seeded good rows followed by `bad_rows` bad rows cycling through BAD_ROW_KINDS."""
    if n < 0 or bad_rows < 0:
        raise ValueError(f"n and bad_rows must be >= 0; got n={n}, bad_rows={bad_rows}")
    if bad_rows and n == 0:
        raise ValueError("bad_rows needs n >= 1: a duplicate_sku row copies a good row's sku")
    rng = random.Random(seed)
    rows = [_good_row(rng, i) for i in range(n)]
    good_skus = [str(row["sku"]) for row in rows]
    kinds = list(BAD_ROW_KINDS)
    rows += [_bad_row(rng, kinds[k % len(kinds)], k, good_skus) for k in range(bad_rows)]
    return pa.Table.from_pylist(rows, schema=CATALOG_SCHEMA)


def write_sample_catalog(
    path: str | PathLike[str],
    n: int = 10_000,
    seed: int = 0,
    bad_rows: int = 0,
    row_group_size: int = 1024,
) -> Path:
    """Write `make_sample_catalog(n, seed, bad_rows)` to a local Parquet file and return its path."""
    if row_group_size < 1:
        raise ValueError(f"row_group_size must be >= 1; got {row_group_size}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(make_sample_catalog(n, seed, bad_rows), path, row_group_size=row_group_size)
    return path


def write_packaged_sample(path: str | PathLike[str] = SAMPLE_CATALOG_PATH) -> Path:
    """Regenerate the packaged sample: SAMPLE_GOOD_ROWS good rows plus one bad row of every kind."""
    return write_sample_catalog(path, SAMPLE_GOOD_ROWS, SAMPLE_SEED, len(BAD_ROW_KINDS), row_group_size=16)


if __name__ == "__main__":
    print(write_packaged_sample())
