"""The evaluation runs end to end on a handful of images and reports every metric key."""

import math

import numpy as np
import pytest
import torch

from catalog_concepts.embedded_model.evaluate import (
    METRIC_KEYS,
    SamplerConfig,
    choose_variety_default,
    diversity,
    evaluate_config,
    precision_recall,
    real_renders,
    saturation,
)
from catalog_concepts.engine.guidance import GuidanceInterval


@pytest.fixture(scope="module")
def tiny_pipeline(tiny_run):
    from catalog_concepts.embedded_model.export import load_pipeline

    torch.set_num_threads(1)
    return load_pipeline(tiny_run / "pipeline")


@pytest.mark.parametrize("scheduler", ["ddim", "dpmsolver++", "euler"])
def test_small_evaluation_returns_every_metric(tiny_pipeline, scheduler):
    from catalog_concepts.embedded_model.classifier import build_classifier
    from catalog_concepts.embedded_model.dataset import HELD_OUT

    net = build_classifier().eval()  # untrained: this test checks the plumbing, not the numbers
    row = evaluate_config(tiny_pipeline, net, SamplerConfig(scheduler, 2, 3.0, GuidanceInterval(0.0, 5.0)), seeds_per_combo=2,
                          max_sequence_length=24, combos=HELD_OUT[:2], real=real_renders(2, combos=HELD_OUT[:2]))
    assert set(METRIC_KEYS) <= set(row)
    for k in ("category", "color", "background", "all", "saturation", "precision", "recall"):
        assert 0.0 <= row[k] <= 1.0
    assert row["images_per_s"] > 0 and not math.isnan(row["diversity"])
    assert row["diversity_ratio"] > 0 and row["pixel_mad_ratio"] > 0


def test_diversity_and_saturation_on_known_images():
    grey = np.full((4, 64, 64, 3), 128.0)
    assert diversity(grey, 2) == 0.0 and saturation(grey) == 0.0
    red = np.zeros((2, 64, 64, 3))
    red[..., 0] = 255.0
    assert saturation(red) == 1.0
    pair = np.stack([np.zeros((64, 64, 3)), np.full((64, 64, 3), 255.0)])
    assert diversity(pair, 2) == pytest.approx(1.0)


def test_unknown_scheduler_is_refused():
    from catalog_concepts.embedded_model.export import make_scheduler

    with pytest.raises(ValueError, match="allowed: ddim, dpmsolver\\+\\+, euler"):
        make_scheduler("lms", {})


def _row(sched, steps, g, all_, ips, cat=0.99, col=0.99, bg=1.0):
    return {"scheduler": sched, "steps": steps, "guidance_scale": g, "category": cat, "color": col,
            "background": bg, "all": all_, "images_per_s": ips}


@pytest.mark.parametrize(
    "rows,expected",
    [
        # The best joint adherence among rows that meet every target wins ...
        ([_row("ddim", 20, 3, 0.93, 5), _row("ddim", 50, 3, 0.97, 2), _row("dpmsolver++", 20, 2, 0.95, 5)],
         ("dpmsolver++", 20, 2)),
        # ... a tie goes to fewer steps ...
        ([_row("ddim", 20, 3, 0.95, 5), _row("dpmsolver++", 10, 3, 0.951, 9)], ("dpmsolver++", 10, 3)),
        # ... no row meets all targets: best among the fast-enough rows ...
        ([_row("ddim", 50, 3, 0.80, 2), _row("ddim", 10, 3, 0.60, 8), _row("euler", 20, 5, 0.70, 4)],
         ("euler", 20, 5)),
        # ... nothing is fast enough: best overall.
        ([_row("ddim", 50, 3, 0.80, 2), _row("ddim", 20, 3, 0.60, 3)], ("ddim", 50, 3)),
    ],
)
def test_choose_default(rows, expected):
    from catalog_concepts.embedded_model.evaluate import choose_default

    best = choose_default(rows)
    assert (best["scheduler"], best["steps"], best["guidance_scale"]) == expected


def test_meets_targets_needs_every_metric():
    from catalog_concepts.embedded_model.evaluate import meets_targets

    assert meets_targets(_row("ddim", 20, 3, 0.91, 4.0))
    assert not meets_targets(_row("ddim", 20, 3, 0.91, 3.9))
    assert not meets_targets(_row("ddim", 20, 3, 0.91, 5, bg=0.97))


def test_precision_and_recall_of_known_feature_sets():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(40, 8))
    assert precision_recall(real, real.copy()) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0) == (0.0, 0.0)  # far away: no fidelity, no coverage
    # Generated samples collapsed onto a few real points: faithful (precision 1) but covering little (low recall).
    precision, recall = precision_recall(real, np.repeat(real[:2], 20, axis=0))
    assert precision == 1.0 and recall < 0.3


def test_the_variety_default_is_the_most_varied_row_that_keeps_adherence():
    rows = [
        {"all": 0.98, "diversity_ratio": 0.55, "precision": 0.5, "images_per_s": 13.0},
        {"all": 0.96, "diversity_ratio": 0.80, "precision": 0.5, "images_per_s": 9.0},
        {"all": 0.96, "diversity_ratio": 0.803, "precision": 0.4, "images_per_s": 15.0},  # a tie on variety: less fidelity
        {"all": 0.93, "diversity_ratio": 0.95, "precision": 0.5, "images_per_s": 16.0},  # too little adherence
    ]
    assert choose_variety_default(rows) is rows[1]
    assert choose_variety_default(rows[3:]) is rows[3]  # nothing keeps adherence: the best adherence
    assert choose_variety_default(rows, min_images_per_s=10.0) is rows[2]  # too slow to be the default: rows[1]
