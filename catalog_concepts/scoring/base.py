"""What every scorer is: a named, versioned function of images, and the model files scorers may load."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catalog_concepts.assets import attribute_classifier_path

SHIPPED_CLASSIFIER_PATH = attribute_classifier_path()


@dataclass(frozen=True)
class Scorer:
    """A named scorer, its version and its function."""

    name: str
    version: str
    score: Callable[[np.ndarray, Sequence[Mapping]], list[dict[str, float]]]
    # True when an image's scores depend on the other images it is scored with (diversity): such a
    # scorer sees a whole shard at once; the others may score it batch by batch as images are made.
    compares_images: bool = False


@dataclass(frozen=True)
class ScorerModels:
    """Local model files the model-backed scorers load; None leaves that scorer out (its scores are absent).

    Resolved from the environment by the caller (flows/resources.py), never here.
    """

    attribute_classifier: Path | None = SHIPPED_CLASSIFIER_PATH
    clip: Path | None = None
    safety_checker: Path | None = None
    train_index: Path | None = None
    risk_terms: Path | None = None
