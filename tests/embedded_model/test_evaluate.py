"""The evaluation runs end to end on a handful of images and reports every metric key."""

import math

import numpy as np
import pytest
import torch

from embedded_model.evaluate import METRIC_KEYS, SamplerConfig, diversity, evaluate_config, saturation


@pytest.fixture(scope="module")
def tiny_pipeline(tiny_run):
    from embedded_model.export import load_pipeline

    torch.set_num_threads(1)
    return load_pipeline(tiny_run / "pipeline")


@pytest.mark.parametrize("scheduler", ["ddim", "dpmsolver++", "euler"])
def test_small_evaluation_returns_every_metric(tiny_pipeline, scheduler):
    from embedded_model.classifier import build_classifier
    from embedded_model.dataset import HELD_OUT

    net = build_classifier().eval()  # untrained: this test checks the plumbing, not the numbers
    row = evaluate_config(tiny_pipeline, net, SamplerConfig(scheduler, 2, 3.0), seeds_per_combo=2,
                          max_sequence_length=24, combos=HELD_OUT[:2])
    assert set(METRIC_KEYS) <= set(row)
    for k in ("category", "color", "background", "all", "saturation"):
        assert 0.0 <= row[k] <= 1.0
    assert row["images_per_s"] > 0 and not math.isnan(row["diversity"])


def test_diversity_and_saturation_on_known_images():
    grey = np.full((4, 64, 64, 3), 128.0)
    assert diversity(grey, 2) == 0.0 and saturation(grey) == 0.0
    red = np.zeros((2, 64, 64, 3))
    red[..., 0] = 255.0
    assert saturation(red) == 1.0
    pair = np.stack([np.zeros((64, 64, 3)), np.full((64, 64, 3), 255.0)])
    assert diversity(pair, 2) == pytest.approx(1.0)


def test_unknown_scheduler_is_refused():
    from embedded_model.export import make_scheduler

    with pytest.raises(ValueError, match="allowed: ddim, dpmsolver\\+\\+, euler"):
        make_scheduler("lms", {})
