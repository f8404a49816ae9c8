"""pHash, Hamming distance and duplicate grouping on synthetic images."""

import numpy as np
import pytest

from catalog_concepts.scoring.duplicates import SCORER_VERSION, duplicate_groups, duplicates_within_sku, hamming, phash


def _noised(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    """A copy of img with Gaussian noise of sigma (0..255 scale) added."""
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(np.float32) + rng.normal(0.0, sigma, img.shape), 0, 255).astype(np.uint8)


def test_version():
    assert SCORER_VERSION == "phash/1"


def test_hash_format_and_determinism(make_image):
    h = phash(make_image("scene"))
    assert len(h) == 16 and int(h, 16) >= 0 and h == h.lower()
    assert phash(make_image("scene").copy()) == h


@pytest.mark.parametrize("kind", ["scene", "checker", "stripes", "gray"])
def test_identical_images_hash_identically(make_image, kind):
    assert hamming(phash(make_image(kind)), phash(make_image(kind))) == 0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_slightly_noised_copy_is_close(make_image, seed):
    img = make_image("scene", seed=seed)
    assert hamming(phash(img), phash(_noised(img, sigma=3.0, seed=seed))) <= 4


@pytest.mark.parametrize("a, b", [("scene", "checker"), ("scene", "stripes"), ("checker", "stripes")])
def test_different_patterns_are_far(make_image, a, b):
    assert hamming(phash(make_image(a)), phash(make_image(b))) >= 12


def test_resolution_does_not_matter_much(make_image):
    img = make_image("scene")
    big = np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)  # (128, 128, 3) nearest upscale
    assert hamming(phash(img), phash(big)) <= 2


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("0000000000000000", "0000000000000000", 0),
        ("0000000000000000", "ffffffffffffffff", 64),
        ("8000000000000001", "0000000000000000", 2),
        ("F0F0F0F0F0F0F0F0", "f0f0f0f0f0f0f0f0", 0),
    ],
)
def test_hamming_table(a, b, expected):
    assert hamming(a, b) == expected


@pytest.mark.parametrize("bad", ["", "123", "zzzzzzzzzzzzzzzz", "0" * 17, None])
def test_hamming_rejects_malformed(bad):
    with pytest.raises(ValueError, match="16-character hex"):
        hamming(bad, "0" * 16)


@pytest.mark.parametrize(
    "hashes, max_distance, expected",
    [
        ([], 4, []),
        (["0000000000000000"], 4, [-1]),
        (["0000000000000000", "0000000000000003", "ffffffffffffffff"], 2, [-1, 0, -1]),
        (["0000000000000000", "0000000000000003", "ffffffffffffffff"], 1, [-1, -1, -1]),
        # the FIRST earlier match wins, even when a later one is closer
        (["000000000000000f", "0000000000000000", "0000000000000001"], 4, [-1, 0, 0]),
        # chains: 2 is near 1 but not near 0
        (["0000000000000000", "000000000000000f", "00000000000000ff"], 4, [-1, 0, 1]),
        (["ffffffffffffffff", "ffffffffffffffff"], 0, [-1, 0]),
    ],
)
def test_duplicate_groups_table(hashes, max_distance, expected):
    assert duplicate_groups(hashes, max_distance) == expected


def test_duplicate_groups_on_images(make_image):
    scene = make_image("scene")
    images = [scene, make_image("checker"), _noised(scene, 3.0), make_image("stripes"), make_image("checker")]
    assert duplicate_groups([phash(i) for i in images], 4) == [-1, -1, 0, -1, 1]


@pytest.mark.parametrize("bad", [-1, 65, 2.5, True])
def test_duplicate_groups_rejects_bad_distance(bad):
    with pytest.raises(ValueError, match="0..64"):
        duplicate_groups(["0" * 16], bad)


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((1, 8, 8, 3), np.uint8)])
def test_phash_rejects_bad_images(bad):
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        phash(bad)


A, A_NEAR, B = "0" * 16, "0" * 15 + "3", "f" * 16  # A_NEAR is 2 bits from A; B is 64 bits from A


@pytest.mark.parametrize(
    ("skus", "variants", "hashes", "expected"),
    [
        # the second of two near-copies of one SKU names the first's variant number
        (["s", "s"], [0, 1], [A, A_NEAR], [-1, 0]),
        # the same pixels under two SKUs are not duplicates of each other (only variants of one SKU compare)
        (["s", "t"], [0, 0], [A, A], [-1, -1]),
        # variant numbers, not positions: a shard's rows need not be in variant order
        (["s", "t", "s"], [3, 0, 1], [B, A, B], [-1, -1, 3]),
        (["s", "s", "s"], [0, 1, 2], [A, B, A_NEAR], [-1, -1, 0]),
        ([], [], [], []),
    ],
)
def test_duplicates_within_sku_table(skus, variants, hashes, expected):
    assert duplicates_within_sku(skus, variants, hashes, max_distance=4) == expected


def test_duplicates_within_sku_wants_one_of_each_per_image():
    with pytest.raises(ValueError, match="2 skus, 1 variants and 2 hashes"):
        duplicates_within_sku(["s", "s"], [0], [A, A], max_distance=4)
