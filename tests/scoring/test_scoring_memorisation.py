"""Memorisation: a training image scores ~0; fresh renders sit well above; the index round-trips."""

import numpy as np
import pytest

from catalog_concepts.embedded_model.dataset import render_images, sample_attributes
from catalog_concepts.scoring.memorisation import (
    build_train_index,
    ensure_train_index,
    features_of,
    load_train_index,
    make_memorisation_scorer,
    nearest_rms,
)


@pytest.fixture(scope="module")
def index_path(tmp_path_factory):
    return ensure_train_index(tmp_path_factory.mktemp("index") / "train.npz", count=96, seed=5)


def test_index_rebuilds_the_exact_training_renders(index_path):
    index = load_train_index(index_path)
    assert (index.count, index.seed, index.features.shape) == (96, 5, (96, 768))
    # Chunked rebuild == render_images(sample_attributes(n, seed), seed), image for image.
    direct = features_of(render_images(sample_attributes(96, 5, held_out=False), 5))
    assert np.array_equal(index.features, direct)
    assert np.array_equal(build_train_index(96, 5, chunk=7).features, direct)


def test_copies_score_zero_and_fresh_renders_do_not(index_path):
    training = render_images(sample_attributes(96, 5, held_out=False)[:4], 5)  # the first 4 training images
    fresh = render_images(sample_attributes(4, 77, held_out=True), 77)
    scorer = make_memorisation_scorer(index_path)
    copies = [s["memorisation_nn_rms"] for s in scorer.score(training, [{}] * 4)]
    novel = [s["memorisation_nn_rms"] for s in scorer.score(fresh, [{}] * 4)]
    assert max(copies) < 0.002
    assert min(novel) > 0.012  # MEM-001's bound in policies/default.yaml
    assert scorer.version.startswith("memorisation/1@")


def test_nearest_rms_against_brute_force():
    rng = np.random.default_rng(0)
    x, index = rng.integers(0, 256, (5, 12), dtype=np.uint8), rng.integers(0, 256, (9, 12), dtype=np.uint8)
    brute = np.sqrt((((x[:, None].astype(float) - index[None].astype(float)) / 255) ** 2).mean(-1)).min(1)
    assert nearest_rms(x, index, chunk=4) == pytest.approx(brute, abs=1e-5)


def test_ensure_rebuilds_an_index_of_other_provenance(index_path, tmp_path):
    path = ensure_train_index(tmp_path / "i.npz", count=8, seed=5)
    assert load_train_index(ensure_train_index(path, count=8, seed=6)).seed == 6
    with pytest.raises(FileNotFoundError, match="index"):
        make_memorisation_scorer(tmp_path / "none.npz")
