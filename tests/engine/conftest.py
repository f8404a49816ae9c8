"""Engine fixtures: one tiny random-weights pipeline per test session."""

import pytest

from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.load import load_model


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    return load_model(tiny_model_dir, choose_placement("cpu"))
