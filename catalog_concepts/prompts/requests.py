"""Turn validated catalog rows into planned images: prompt, seed and identity per variant."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from catalog_concepts.engine.generate import ImageRequest
from catalog_concepts.engine.seeds import image_seed
from catalog_concepts.prompts.templates import build_prompt
from catalog_concepts.storage.keys import asset_id

# Catalog fields the review policy and the scorers judge; they travel with every planned image
# (title and description feed the text risk scorer, catalog_concepts/scoring/risk.py; never the prompt).
POLICY_FIELDS: tuple[str, ...] = (
    "asset_type", "claims_real_sku", "has_logo", "category", "color", "material", "brand", "locale",
    "title", "description",
)


@dataclass(frozen=True)
class PlannedImage:
    """One image the run will make, with everything its manifest row needs from the catalog."""

    request: ImageRequest
    catalog_row_hash: str
    template_id: str
    template_version: str
    background: str
    attributes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PlanError:
    """A catalog row that passed validation but cannot become a prompt."""

    sku: str
    reason: str


def plan_images(
    rows: Iterable[Mapping[str, object]],
    *,
    run_id: str,
    run_seed: int,
    variants_per_sku: int,
    row_hash,
) -> tuple[list[PlannedImage], list[PlanError]]:
    """Plan variants_per_sku images per row; rows whose prompt cannot be built are returned as errors."""
    if variants_per_sku < 1:
        raise ValueError(f"variants_per_sku must be >= 1, got {variants_per_sku}")
    planned: list[PlannedImage] = []
    errors: list[PlanError] = []
    for row in rows:
        sku = str(row["sku"])
        try:
            prompt = build_prompt(row)
        except ValueError as error:
            errors.append(PlanError(sku=sku, reason=f"prompt: {error}"))
            continue
        attributes = {name: row.get(name) for name in POLICY_FIELDS}
        digest = row_hash(row)
        for variant in range(variants_per_sku):
            request = ImageRequest(
                asset_id=asset_id(run_id, sku, variant),
                sku=sku,
                variant=variant,
                seed=image_seed(run_seed, sku, variant),
                prompt=prompt.text,
                negative_prompt=prompt.negative,
            )
            planned.append(
                PlannedImage(request, digest, prompt.template_id, prompt.template_version, prompt.background, attributes)
            )
    return planned, errors


def shard(planned: list[PlannedImage], skus_per_shard: int) -> list[list[PlannedImage]]:
    """Split a plan into shards of whole SKUs (a SKU's variants stay together for duplicate checks)."""
    if skus_per_shard < 1:
        raise ValueError(f"skus_per_shard must be >= 1, got {skus_per_shard}")
    shards: list[list[PlannedImage]] = []
    current: list[PlannedImage] = []
    skus_in_current: set[str] = set()
    for image in planned:
        if image.request.sku not in skus_in_current and len(skus_in_current) == skus_per_shard:
            shards.append(current)
            current, skus_in_current = [], set()
        current.append(image)
        skus_in_current.add(image.request.sku)
    if current:
        shards.append(current)
    return shards
