"""Alignment: the shipped attribute classifier on real renders, and CLIPScore with a tiny random CLIP."""

import math

import numpy as np
import pytest

from catalog_concepts.embedded_model.dataset import Attributes, render_images
from catalog_concepts.scoring.alignment import CLASSIFIER_SCORE_NAMES, clip_scores, make_classifier_scorer, make_clip_scorer, resize_to
from catalog_concepts.scoring.base import SHIPPED_CLASSIFIER_PATH

needs_classifier = pytest.mark.skipif(not SHIPPED_CLASSIFIER_PATH.is_file(), reason="shipped classifier weights absent")

ATTRS = [
    Attributes("table", "red", "wood", "gradient"),
    Attributes("mug", "blue", "ceramic", "studio_white"),
    Attributes("shoe", "yellow", "leather", "dark"),
    Attributes("sofa", "green", "fabric", "wood_floor"),
]


def _context(attrs) -> list[dict]:
    return [{"category": a.category, "color": a.color, "background": a.background, "prompt": a.caption} for a in attrs]


@needs_classifier
def test_matched_prompts_score_high_and_mismatched_low():
    images = render_images(ATTRS, seed=4242)  # (4, 64, 64, 3) fresh seeds
    scorer = make_classifier_scorer()
    matched = scorer.score(images, _context(ATTRS))
    shifted = scorer.score(images, _context(ATTRS[1:] + ATTRS[:1]))  # every attribute wrong
    assert all(set(s) == set(CLASSIFIER_SCORE_NAMES) for s in matched)
    assert min(s["alignment"] for s in matched) > 0.9
    assert max(s["alignment"] for s in shifted) < 0.05
    for s in matched:
        assert s["alignment"] == pytest.approx(s["align_category"] * s["align_color"] * s["align_background"])
    assert scorer.name == "alignment" and scorer.version.startswith("attribute-classifier/1@")


@needs_classifier
def test_one_wrong_attribute_is_enough():
    images = render_images(ATTRS[:1], seed=1)
    [right] = make_classifier_scorer().score(images, _context(ATTRS[:1]))
    [wrong] = make_classifier_scorer().score(images, [dict(_context(ATTRS[:1])[0], color="teal")])
    assert right["alignment"] > 0.9 > 0.1 > wrong["alignment"]
    assert wrong["align_category"] > 0.9 and wrong["align_color"] < 0.1


@needs_classifier
@pytest.mark.parametrize(
    "changes, nan_scores",
    [
        ({"color": "navy"}, {"align_color", "alignment"}),  # free-text colour outside the vocabulary
        ({"color": None}, {"align_color", "alignment"}),
        ({"category": "bicycle"}, {"align_category", "alignment"}),
        ({"background": None}, {"align_background", "alignment"}),
        ({"color": " Red "}, set()),  # trimmed and casefolded
    ],
)
def test_attributes_it_cannot_judge_are_nan(changes, nan_scores):
    images = render_images(ATTRS[:1], seed=2)
    [scores] = make_classifier_scorer().score(images, [dict(_context(ATTRS[:1])[0], **changes)])
    assert {k for k, v in scores.items() if math.isnan(v)} == nan_scores


@needs_classifier
def test_other_sizes_are_resized_to_the_classifiers_64():
    images = render_images(ATTRS, seed=3)
    small = resize_to(images, 32)  # (4, 32, 32, 3), as the tiny test model renders
    assert small.shape == (4, 32, 32, 3)
    scores = make_classifier_scorer().score(small, _context(ATTRS))
    assert len(scores) == 4 and all(0.0 <= s["alignment"] <= 1.0 for s in scores)


def test_missing_weights_fail_at_configuration(tmp_path):
    with pytest.raises(FileNotFoundError, match="attribute classifier"):
        make_classifier_scorer(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match="CLIP"):
        make_clip_scorer(tmp_path)


def test_clip_score_with_a_tiny_random_clip(tiny_clip_dir):
    from transformers import CLIPModel, CLIPProcessor

    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    context = [{"prompt": "a red table"}, {"prompt": "a blue mug"}, {"prompt": None}]
    scorer = make_clip_scorer(tiny_clip_dir)
    scores = scorer.score(images, context)
    assert math.isnan(scores[2]["clip_score"])
    assert all(0.0 <= s["clip_score"] <= 2.5 for s in scores[:2])
    # Same numbers as a direct computation of Hessel et al.'s formula.
    model, processor = CLIPModel.from_pretrained(tiny_clip_dir), CLIPProcessor.from_pretrained(tiny_clip_dir)
    direct = clip_scores(model, processor, images[:2], ["a red table", "a blue mug"])
    assert [s["clip_score"] for s in scores[:2]] == pytest.approx(direct.tolist(), abs=1e-6)
    assert scorer.name == "clip" and scorer.version == f"clip-score/1@{tiny_clip_dir.name}"
