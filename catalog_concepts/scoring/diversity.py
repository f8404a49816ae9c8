"""Diversity among a SKU's variants and across a run, by perceptual-hash distance.

Scores per image (pHash of catalog_concepts/scoring/duplicates.py, Hamming bits 0..64):
- `phash_sku_min_distance`: to the nearest OTHER variant of the same SKU in the batch
  (64 when it is the SKU's only image: nothing to be a duplicate of);
- `phash_batch_min_distance`: to the nearest image of ANY other SKU in the batch.
Low values mean near-copies: the seed asks that variants differ and that SKUs do not
collapse onto one image. `run_nearest` does the across-run check once every shard is in.
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np

from catalog_concepts.scoring.base import Scorer
from catalog_concepts.scoring.duplicates import hash_value, phash

SCORER_VERSION = "diversity/1"
SCORE_NAMES: tuple[str, ...] = ("phash_sku_min_distance", "phash_batch_min_distance")
NO_NEIGHBOUR = 64  # the largest possible distance: no other image to compare with


def distance_matrix(hashes: Sequence[str]) -> np.ndarray:
    """Pairwise Hamming distances of pHash hex strings -> (N, N) int."""
    values = np.array([hash_value(h) for h in hashes], dtype=np.uint64)  # (N,)
    return np.bitwise_count(values[:, None] ^ values[None, :]).astype(np.int64)  # (N, N)


def nearest_by_group(hashes: Sequence[str], groups: Sequence[object]) -> tuple[list[int], list[int]]:
    """Per hash: min distance to another member of its group, and to any member of another group."""
    n = len(hashes)
    if len(groups) != n:
        raise ValueError(f"{len(groups)} groups for {n} hashes; need one per hash")
    d = distance_matrix(hashes)  # (N, N)
    same = np.array([[a == b for b in groups] for a in groups], dtype=bool).reshape(n, n)  # (N, N)
    np.fill_diagonal(d, NO_NEIGHBOUR + 1)  # an image is not its own neighbour
    within = np.where(same, d, NO_NEIGHBOUR + 1).min(axis=1, initial=NO_NEIGHBOUR + 1)  # (N,)
    across = np.where(~same, d, NO_NEIGHBOUR + 1).min(axis=1, initial=NO_NEIGHBOUR + 1)  # (N,)
    return np.minimum(within, NO_NEIGHBOUR).tolist(), np.minimum(across, NO_NEIGHBOUR).tolist()


def run_nearest(hashes: Sequence[str], skus: Sequence[str]) -> list[int]:
    """For a whole run's rows: each image's distance to the nearest image of another SKU (64 if none)."""
    return nearest_by_group(hashes, skus)[1]


def score_diversity(images: np.ndarray, context: Sequence[Mapping]) -> list[dict[str, float]]:
    """Nearest same-SKU and other-SKU pHash distances within the batch; NaN for an image without a sku."""
    if len(context) != len(images):
        raise ValueError(f"context has {len(context)} entries for {len(images)} images; need one per image")
    if len(images) == 0:
        return []
    hashes = [phash(image) for image in images]
    skus = [entry.get("sku") if isinstance(entry, Mapping) else None for entry in context]
    # An image without a sku gets a group of its own, so it is compared with everything else.
    groups = [sku if isinstance(sku, str) and sku else ("<no sku>", i) for i, sku in enumerate(skus)]
    within, across = nearest_by_group(hashes, groups)
    return [
        {
            "phash_sku_min_distance": float(w) if isinstance(s, str) and s else math.nan,
            "phash_batch_min_distance": float(a),
        }
        for w, a, s in zip(within, across, skus, strict=True)
    ]


def make_diversity_scorer() -> Scorer:
    """The "diversity" scorer."""
    return Scorer("diversity", SCORER_VERSION, score_diversity, compares_images=True)
