"""The scorers a run applies, in order; each adds named scores and records its version.

Every scorer has one signature, `score(images (N, H, W, 3) uint8, context) -> list[dict]`,
and runs inside the generation worker on pixels already in memory.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from scoring import technical


@dataclass(frozen=True)
class Scorer:
    """A named scorer, its version and its function."""

    name: str
    version: str
    score: Callable[[np.ndarray, Sequence[Mapping]], list[dict[str, float]]]


def default_scorers() -> list[Scorer]:
    """The scorers every run applies."""
    return [Scorer("technical", technical.SCORER_VERSION, technical.score_technical)]


def run_scorers(
    scorers: Sequence[Scorer], images: np.ndarray, context: Sequence[Mapping]
) -> tuple[list[dict[str, float]], dict[str, str]]:
    """Per-image merged scores and {scorer name: version}; two scorers may not claim one score name."""
    merged: list[dict[str, float]] = [{} for _ in range(len(images))]
    for scorer in scorers:
        results = scorer.score(images, context)
        if len(results) != len(images):
            raise ValueError(f"scorer {scorer.name} returned {len(results)} results for {len(images)} images")
        for target, scores in zip(merged, results):
            clash = set(target) & set(scores)
            if clash:
                raise ValueError(f"scorer {scorer.name} repeats score name(s) {sorted(clash)}")
            target.update(scores)
    return merged, {scorer.name: scorer.version for scorer in scorers}
