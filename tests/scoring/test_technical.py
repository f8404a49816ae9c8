"""Technical scores on synthetic images and the fail-closed checks built on them."""

import copy
import math

import numpy as np
import pytest

from catalog_concepts.scoring.technical import SCORE_NAMES, SCORER_VERSION, score_technical, technical_failures
from catalog_concepts.scoring.thresholds import load_thresholds

THRESHOLDS = load_thresholds()
GOOD_SCORES = {
    "std_luma": 40.0,
    "clipped_dark_fraction": 0.0,
    "clipped_bright_fraction": 0.0,
    "mean_saturation": 0.3,
    "p95_saturation": 0.9,
    "sharpness": 500.0,
}


def test_scorer_identity():
    assert SCORER_VERSION == "technical/1"
    assert tuple(GOOD_SCORES) == SCORE_NAMES


@pytest.mark.parametrize(
    "kind, expected_prefixes",
    [
        ("gray", ["blank: std_luma 0 < 2", "blurry: sharpness 0 < 10"]),
        ("half_black_white", ["clipped dark: clipped_dark_fraction 0.5 > 0.4", "clipped bright: clipped_bright_fraction 0.5 > 0.4"]),
        ("red", ["blank: std_luma 0 < 2", "over-saturated: mean_saturation 1 > 0.45", "over-saturated: p95_saturation 1 > 0.97", "blurry"]),
        ("scene", []),
        ("checker", []),
    ],
)
def test_failures_of_synthetic_images(make_image, kind, expected_prefixes):
    [scores] = score_technical(make_image(kind)[None], [{"sku": "S-1", "variant": 0}])
    failures = technical_failures(scores, THRESHOLDS)
    assert len(failures) == len(expected_prefixes), failures
    for failure, prefix in zip(failures, expected_prefixes, strict=True):
        assert failure.startswith(prefix), failures


@pytest.mark.parametrize(
    "kind, name, expected",
    [
        ("gray", "std_luma", 0.0),
        ("gray", "sharpness", 0.0),
        ("gray", "mean_saturation", 0.0),
        ("half_black_white", "clipped_dark_fraction", 0.5),
        ("half_black_white", "clipped_bright_fraction", 0.5),
        ("half_black_white", "std_luma", 127.5),
        ("red", "mean_saturation", 1.0),
        ("red", "p95_saturation", 1.0),
    ],
)
def test_exact_scores(make_image, kind, name, expected):
    [scores] = score_technical(make_image(kind)[None], [{}])
    assert scores[name] == pytest.approx(expected, abs=1e-4)


def test_scores_are_per_image_in_a_batch(make_image):
    batch = np.stack([make_image("gray"), make_image("scene"), make_image("red")])  # (3, 64, 64, 3)
    batched = score_technical(batch, [{}, {}, {}])
    singles = [score_technical(img[None], [{}])[0] for img in batch]
    for got, want in zip(batched, singles, strict=True):
        assert got == pytest.approx(want)
    assert all(set(s) == set(SCORE_NAMES) and all(isinstance(v, float) for v in s.values()) for s in batched)


def test_near_black_noise_is_not_saturated():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 20, size=(1, 32, 32, 3), dtype=np.uint8)  # dark grain: V < 0.1
    [scores] = score_technical(img, [{}])
    assert scores["mean_saturation"] == 0.0


def test_blur_lowers_sharpness(make_image):
    from PIL import Image, ImageFilter

    scene = make_image("scene")
    blurred = np.asarray(Image.fromarray(scene).filter(ImageFilter.GaussianBlur(3)))
    sharp, soft = score_technical(np.stack([scene, blurred]), [{}, {}])
    assert soft["sharpness"] < 10.0 < sharp["sharpness"]
    assert any(f.startswith("blurry") for f in technical_failures(soft, THRESHOLDS))


@pytest.mark.parametrize(
    "background, dark_fraction, failed",
    [
        (None, 0.8, True),
        ("gradient", 0.8, True),
        ("dark", 0.8, False),  # a dark backdrop may be mostly black
        ("dark", 0.95, True),
        ("studio_white", 0.8, True),  # only its bright side is relaxed
    ],
)
def test_background_overrides(background, dark_fraction, failed):
    scores = dict(GOOD_SCORES, clipped_dark_fraction=dark_fraction)
    failures = technical_failures(scores, THRESHOLDS, background=background)
    assert bool(failures) is failed, failures


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("std_luma", math.nan, "blank: std_luma is NaN"),
        ("sharpness", math.nan, "blurry: sharpness is NaN"),
        ("mean_saturation", None, "over-saturated: mean_saturation missing"),
        ("clipped_dark_fraction", "0.1", "clipped dark: clipped_dark_fraction missing"),
    ],
)
def test_nan_or_missing_score_fails_closed(name, value, expected):
    scores = dict(GOOD_SCORES, **{name: value})
    assert technical_failures(scores, THRESHOLDS) == [expected]


@pytest.mark.parametrize("limit, expected", [(None, []), (0.99, ["over-saturated: p95_saturation is NaN"])])
def test_recorded_only_limit_ignores_its_score(limit, expected):
    thresholds = copy.deepcopy(THRESHOLDS)
    thresholds["technical"]["p95_saturation_max"] = limit
    scores = dict(GOOD_SCORES, p95_saturation=math.nan)
    assert technical_failures(scores, thresholds) == expected


def test_absent_score_fails_closed():
    scores = {k: v for k, v in GOOD_SCORES.items() if k != "std_luma"}
    assert technical_failures(scores, THRESHOLDS) == ["blank: std_luma missing"]
    assert technical_failures({}, THRESHOLDS)  # nothing at all is never a pass


def test_good_scores_pass():
    assert technical_failures(GOOD_SCORES, THRESHOLDS) == []


@pytest.mark.parametrize(
    "images, context, error",
    [
        (np.zeros((1, 8, 8, 3), np.float32), [{}], TypeError),
        (np.zeros((8, 8, 3), np.uint8), [{}], ValueError),
        (np.zeros((1, 8, 8, 4), np.uint8), [{}], ValueError),
        (np.zeros((2, 8, 8, 3), np.uint8), [{}], ValueError),
    ],
)
def test_bad_inputs_raise(images, context, error):
    with pytest.raises(error):
        score_technical(images, context)


def test_unknown_background_raises():
    with pytest.raises(ValueError, match="unknown background 'beach'; allowed: gradient"):
        technical_failures(GOOD_SCORES, THRESHOLDS, background="beach")


def test_thresholds_must_be_loaded_mapping():
    with pytest.raises(ValueError, match="load_thresholds"):
        technical_failures(GOOD_SCORES, {"std_luma_min": 2.0})


def test_renders_the_model_imitates_pass_every_check():
    """The procedural training renders are the 'good image' reference: none may fail."""
    import itertools

    from catalog.vocabulary import BACKGROUNDS, CATEGORIES, COLORS, MATERIALS_BY_CATEGORY
    from catalog_concepts.embedded_model.render import render_product

    rng = np.random.default_rng(0)
    pairs = list(itertools.product(CATEGORIES, BACKGROUNDS))  # 32 renders, colours rotating
    images, backgrounds = [], []
    for i, (category, background) in enumerate(pairs):
        material = MATERIALS_BY_CATEGORY[category][0]
        image = render_product(category, COLORS[i % len(COLORS)], material, background, rng)
        images.append(np.asarray(image.convert("RGB")))
        backgrounds.append(background)
    scores = score_technical(np.stack(images), [{} for _ in images])  # (32, 64, 64, 3) in
    failures = {i: technical_failures(s, THRESHOLDS, b) for i, (s, b) in enumerate(zip(scores, backgrounds, strict=True))}
    assert {i: f for i, f in failures.items() if f} == {}
