"""Engine fixtures: one tiny random-weights pipeline per test session."""

import pytest

from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.load import load_model
from catalog_concepts.engine.tiny import build_tiny_pipeline


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    return load_model(tiny_model_dir, choose_placement("cpu"))
