"""The default scorer suite: which scorers run, their score names, versions and context needs."""

import math

import numpy as np
import pytest

from catalog_concepts.embedded_model.dataset import Attributes, render_images
from catalog_concepts.scoring import alignment, diversity, memorisation, risk, safety, technical
from catalog_concepts.scoring.base import SHIPPED_CLASSIFIER_PATH, Scorer, ScorerModels
from catalog_concepts.scoring.suite import default_scorers, run_scorers
from policies.fields import FIELD_KINDS

ALL_SCORE_NAMES = (
    technical.SCORE_NAMES + risk.SCORE_NAMES + diversity.SCORE_NAMES + alignment.CLASSIFIER_SCORE_NAMES
    + alignment.CLIP_SCORE_NAMES + safety.SCORE_NAMES + memorisation.SCORE_NAMES
)


def test_every_score_is_judgeable_by_the_policy():
    assert {f"scores.{name}" for name in ALL_SCORE_NAMES} <= {f for f, kind in FIELD_KINDS.items() if kind == "number"}


def test_without_models_only_the_plain_scorers_run():
    names = [s.name for s in default_scorers(ScorerModels(attribute_classifier=None))]
    assert names == ["technical", "risk", "diversity"]


@pytest.mark.skipif(not SHIPPED_CLASSIFIER_PATH.is_file(), reason="shipped classifier weights absent")
def test_default_suite_on_renders_with_the_worker_context():
    attrs = [Attributes("lamp", "pink", "metal", "gradient"), Attributes("lamp", "pink", "metal", "gradient")]
    images = render_images(attrs, 9)
    context = [
        {"prompt": a.caption, "sku": "L-1", "variant": i, "background": a.background, "category": a.category,
         "color": a.color, "material": a.material, "asset_type": "campaign_background", "brand": None,
         "title": "Pink lamp", "description": None}
        for i, a in enumerate(attrs)
    ]
    scores, versions = run_scorers(default_scorers(), images, context)
    assert list(versions) == ["technical", "risk", "diversity", "alignment"]
    expected = set(technical.SCORE_NAMES + risk.SCORE_NAMES + diversity.SCORE_NAMES + alignment.CLASSIFIER_SCORE_NAMES)
    assert all(set(s) == expected for s in scores)
    assert all(s["alignment"] > 0.9 and s["risk_logo_terms"] == 0.0 for s in scores)
    # Today's worker context (no title/description): risk is NaN, the policy routes to review.
    no_text = [{k: v for k, v in c.items() if k not in ("title", "description")} for c in context]
    scores, _ = run_scorers(default_scorers(), images, no_text)
    assert all(math.isnan(s["risk_logo_terms"]) for s in scores)


def test_two_scorers_may_not_claim_one_score():
    clash = Scorer("again", "x/1", technical.score_technical)
    with pytest.raises(ValueError, match="repeats score name"):
        run_scorers([default_scorers(ScorerModels(attribute_classifier=None))[0], clash], np.zeros((1, 8, 8, 3), np.uint8), [{}])
