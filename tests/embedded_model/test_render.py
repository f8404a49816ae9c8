import itertools

import numpy as np
import pytest

from catalog.vocabulary import BACKGROUNDS, CATEGORIES, COLORS
from catalog_concepts.embedded_model.render import render_product


def test_same_seed_same_pixels():
    a = render_product("mug", "teal", "ceramic", "dark", np.random.default_rng(3))
    b = render_product("mug", "teal", "ceramic", "dark", np.random.default_rng(3))
    assert a.size == (64, 64) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_jitter_changes_pixels_between_seeds():
    a = np.asarray(render_product("chair", "red", "wood", "gradient", np.random.default_rng(1)))
    b = np.asarray(render_product("chair", "red", "wood", "gradient", np.random.default_rng(2)))
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_draws_a_distinct_silhouette(category):
    # Same rng for every category: differences come only from the silhouette.
    img = np.asarray(render_product(category, "blue", "plastic", "studio_white", np.random.default_rng(0)))
    ref = np.asarray(render_product("table", "blue", "plastic", "studio_white", np.random.default_rng(0)))
    blue = (img[..., 2] > 150) & (img[..., 0] < 100)
    assert blue.mean() > 0.05  # the product is visible
    if category != "table":
        assert (img != ref).any(axis=-1).mean() > 0.05


@pytest.mark.parametrize("background,lo,hi", [("studio_white", 200, 256), ("dark", 0, 60)])
def test_background_brightness(background, lo, hi):
    img = np.asarray(render_product("mug", "red", "plastic", background, np.random.default_rng(0)))
    corner = img[:4, :4].mean()
    assert lo <= corner < hi


@pytest.mark.parametrize("color", COLORS)
def test_colour_dominates_product_pixels(color):
    from catalog_concepts.embedded_model.render import COLOR_RGB

    img = np.asarray(render_product("shirt", color, "fabric", "studio_white", np.random.default_rng(0))).astype(float)
    centre = img[36:48, 28:36].reshape(-1, 3).mean(0)
    target = np.array(COLOR_RGB[color])
    assert np.abs(centre - target).mean() < 40


@pytest.mark.parametrize(
    "args,word",
    [
        (("spaceship", "red", "metal", "dark"), "category"),
        (("mug", "navy", "metal", "dark"), "color"),
        (("mug", "red", "glass", "dark"), "material"),
        (("mug", "red", "metal", "beach"), "background"),
    ],
)
def test_unknown_attribute_is_refused_with_allowed_values(args, word):
    with pytest.raises(ValueError, match=f"unknown {word}.*allowed"):
        render_product(*args, np.random.default_rng(0))


def test_every_background_renders_and_looks_different():
    images = {bg: np.asarray(render_product("bag", "pink", "leather", bg, np.random.default_rng(0))) for bg in BACKGROUNDS}
    assert all(image.shape == (64, 64, 3) and image.dtype == np.uint8 for image in images.values())
    # Same product, same jitter (same rng seed): only the background differs, and it shows.
    for a, b in itertools.combinations(BACKGROUNDS, 2):
        assert np.abs(images[a].astype(int) - images[b].astype(int)).mean() > 5, (a, b)
