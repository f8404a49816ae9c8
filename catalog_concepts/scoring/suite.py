"""The scorers a run applies, in order; each adds named scores and records its version.

Every scorer has one signature, `score(images (N, H, W, 3) uint8, context) -> list[dict]`,
and runs inside the generation worker on pixels already in memory. Context entries carry
the prompt, sku, variant, background and the catalog fields each scorer names in its
module (risk: title, description, brand; alignment: category, color, background).
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from catalog_concepts.scoring import technical
from catalog_concepts.scoring.alignment import make_classifier_scorer, make_clip_scorer
from catalog_concepts.scoring.base import Scorer, ScorerModels
from catalog_concepts.scoring.diversity import make_diversity_scorer
from catalog_concepts.scoring.memorisation import make_memorisation_scorer
from catalog_concepts.scoring.risk import load_risk_terms, make_risk_scorer
from catalog_concepts.scoring.safety import make_safety_scorer


def default_scorers(models: ScorerModels | None = None) -> list[Scorer]:
    """The scorers every run applies: technical, risk and diversity always; the model-backed ones when configured."""
    models = models if models is not None else ScorerModels()
    scorers = [
        Scorer("technical", technical.SCORER_VERSION, technical.score_technical),
        make_risk_scorer(load_risk_terms(models.risk_terms)),
        make_diversity_scorer(),
    ]
    # The shipped classifier may be absent in a bare checkout: then alignment is absent (never "aligned").
    if models.attribute_classifier is not None and Path(models.attribute_classifier).is_file():
        scorers.append(make_classifier_scorer(models.attribute_classifier))
    if models.clip is not None:
        scorers.append(make_clip_scorer(models.clip))
    if models.safety_checker is not None:
        scorers.append(make_safety_scorer(models.safety_checker))
    if models.train_index is not None:
        scorers.append(make_memorisation_scorer(models.train_index))
    return scorers


def run_scorers(
    scorers: Sequence[Scorer], images: np.ndarray, context: Sequence[Mapping], scored: Sequence[dict[str, float]] | None = None
) -> tuple[list[dict[str, float]], dict[str, str]]:
    """Per-image merged scores and {scorer name: version}; two scorers may not claim one score name.

    scored: scores other scorers already gave these images (e.g. batch by batch); the new ones join them.
    """
    if scored is not None and len(scored) != len(images):
        raise ValueError(f"{len(scored)} earlier score sets for {len(images)} images; need one per image")
    merged: list[dict[str, float]] = [dict(s) for s in scored] if scored is not None else [{} for _ in range(len(images))]
    for scorer in scorers:
        results = scorer.score(images, context)
        if len(results) != len(images):
            raise ValueError(f"scorer {scorer.name} returned {len(results)} results for {len(images)} images")
        for target, scores in zip(merged, results, strict=True):
            clash = set(target) & set(scores)
            if clash:
                raise ValueError(f"scorer {scorer.name} repeats score name(s) {sorted(clash)}")
            target.update(scores)
    return merged, {scorer.name: scorer.version for scorer in scorers}
