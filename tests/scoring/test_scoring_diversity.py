"""Diversity: nearest pHash distances within a SKU and across SKUs."""

import math

import numpy as np
import pytest

from catalog_concepts.scoring.diversity import NO_NEIGHBOUR, distance_matrix, nearest_by_group, run_nearest, score_diversity
from catalog_concepts.scoring.duplicates import hamming, phash


@pytest.mark.parametrize(
    "hashes, groups, within, across",
    [
        (["0" * 16], ["a"], [64], [64]),
        (["0" * 16, "0" * 15 + "7"], ["a", "a"], [3, 3], [64, 64]),
        (["0" * 16, "0" * 15 + "7"], ["a", "b"], [64, 64], [3, 3]),
        (["0" * 16, "0" * 15 + "1", "f" * 16], ["a", "a", "b"], [1, 1, 64], [64, 63, 63]),
        ([], [], [], []),
    ],
)
def test_nearest_by_group_table(hashes, groups, within, across):
    assert nearest_by_group(hashes, groups) == (within, across)


def test_distance_matrix_agrees_with_hamming():
    hashes = ["0123456789abcdef", "fedcba9876543210", "0" * 16, "f" * 16]
    d = distance_matrix(hashes)
    assert d.tolist() == [[hamming(a, b) for b in hashes] for a in hashes]
    with pytest.raises(ValueError, match="one per hash"):
        nearest_by_group(hashes, ["a"])


def test_scores_on_images(make_image):
    images = np.stack([make_image("scene", 0), make_image("scene", 0), make_image("checker"), make_image("stripes")])
    context = [{"sku": "A"}, {"sku": "A"}, {"sku": "B"}, {}]
    scores = score_diversity(images, context)
    assert scores[0]["phash_sku_min_distance"] == scores[1]["phash_sku_min_distance"] == 0.0  # identical variants
    assert scores[2]["phash_sku_min_distance"] == NO_NEIGHBOUR  # only variant of B
    assert math.isnan(scores[3]["phash_sku_min_distance"])  # no sku: cannot say
    h = [phash(x) for x in images]
    assert scores[2]["phash_batch_min_distance"] == min(hamming(h[2], h[i]) for i in (0, 1, 3))
    assert run_nearest(h, ["A", "A", "B", "C"])[0] == min(hamming(h[0], h[2]), hamming(h[0], h[3]))
    with pytest.raises(ValueError, match="one per image"):
        score_diversity(images, context[:2])
