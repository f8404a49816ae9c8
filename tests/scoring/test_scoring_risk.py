"""Risk flags from text: a table of titles/descriptions/prompts and the flags each must raise."""

import math

import numpy as np
import pytest

from catalog_concepts.scoring.risk import SCORE_NAMES, load_risk_terms, make_risk_scorer, risk_matches

TERMS = load_risk_terms()
PROMPT = "campaign concept, a orange wood table on a soft gradient backdrop"


def _entry(**changes) -> dict:
    entry = {"prompt": PROMPT, "title": "Oslo Oak Dining Table", "description": "A solid oak dining table.", "brand": "Nordhavn"}
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    "changes, logo, claim",
    [
        ({}, [], []),
        ({"description": None, "brand": None}, [], []),
        ({"title": "Oslo Table™"}, ["™"], []),
        ({"title": "Oslo Table (R)"}, ["(r)"], []),
        ({"description": "A warm atmosphere, smooth finish"}, [], []),  # no "tm"/"sm" inside words
        ({"description": "Front panel with the embossed LOGO."}, ["logo"], []),
        ({"description": "Logotype on the side"}, ["logotype"], []),
        ({"title": "Mug like IKEA's"}, ["ikea"], []),
        ({"title": "Le  Creuset style pot"}, ["le creuset"], []),  # whitespace collapsed
        ({"title": "Sneaker in Nike colours"}, ["nike"], []),
        ({"title": "Nikeland chair"}, [], []),  # word boundary: not the brand
        ({"description": "The actual item, as shown."}, [], ["actual item", "as shown"]),
        ({"description": "Real\u00a0Product photo"}, [], ["real product"]),  # NFKC + casefold
        ({"description": "Genuine leather upholstery"}, [], []),  # a material, not a claim
        ({"title": "Genuine product, logo on front"}, ["logo"], ["genuine product"]),
        ({"prompt": PROMPT + " nordhavn"}, ["nordhavn"], []),  # own brand leaked into the prompt
        ({"title": "Nordhavn Oslo Table"}, [], []),  # own brand in the title is expected
    ],
)
def test_risk_matches_table(changes, logo, claim):
    assert risk_matches(_entry(**changes), TERMS) == {"risk_logo_terms": logo, "risk_real_claim": claim}


@pytest.mark.parametrize(
    "entry",
    [
        {k: v for k, v in _entry().items() if k != "title"},  # title not given (today's worker context)
        {k: v for k, v in _entry().items() if k != "description"},
        _entry(title=None),  # title is non-null in the catalog
        _entry(prompt=None),
        _entry(description=3),
        "not a mapping",
    ],
)
def test_unreadable_context_scores_nan_never_zero(entry):
    [scores] = make_risk_scorer(TERMS).score(np.zeros((1, 4, 4, 3), np.uint8), [entry])
    assert set(scores) == set(SCORE_NAMES)
    assert all(math.isnan(v) for v in scores.values())


def test_scorer_flags_and_version():
    scorer = make_risk_scorer(TERMS)
    images = np.zeros((3, 4, 4, 3), np.uint8)
    scores = scorer.score(images, [_entry(), _entry(title="Mug ®"), _entry(description="actual product shown")])
    assert scores == [
        {"risk_logo_terms": 0.0, "risk_real_claim": 0.0},
        {"risk_logo_terms": 1.0, "risk_real_claim": 0.0},
        {"risk_logo_terms": 0.0, "risk_real_claim": 1.0},
    ]
    assert scorer.name == "risk" and scorer.version == f"risk/1@terms-{TERMS.sha256[:12]}"
    with pytest.raises(ValueError, match="one per image"):
        scorer.score(images, [_entry()])


@pytest.mark.parametrize(
    "text, message",
    [
        ("version: 1\nlogo_symbols: [x]\nlogo_words: [x]\nbrand_names: [x]\n", "missing key"),
        ("version: 1\nlogo_symbols: [x]\nlogo_words: [x]\nbrand_names: [x]\nreal_claim_phrases: []\n", "non-empty list"),
        ("version: 1\nlogo_symbols: [x]\nlogo_words: [x]\nbrand_names: [x]\nreal_claim_phrases: [a]\nextra: 1\n", "unknown key"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_bad_terms_files_raise(tmp_path, text, message):
    path = tmp_path / "terms.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_risk_terms(path)
