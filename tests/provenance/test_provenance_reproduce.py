"""reproduce: regenerate images from their manifest rows alone, on the same device and dtype."""

from __future__ import annotations

import pytest

from engine.load import clear_cache
from engine.tiny import build_tiny_pipeline
from provenance.reproduce import SCHEDULER_NAMES, reproduce, sampling_from_row
from engine.schedulers import SCHEDULERS


def test_every_published_image_regenerates_identically(s3, publish_run, tiny_model_dir):
    run = publish_run(s3)
    clear_cache()  # regenerate from a fresh load of the folder, not the pipeline that made them
    results = [reproduce(s3, row["asset_id"], model_dir=tiny_model_dir) for row in run.rows]
    matched = sum(r.identical for r in results)
    print(f"\nreproduce: {matched}/{len(results)} identical (max |diff| {max(r.max_abs_diff for r in results)})")
    assert matched == len(results) == 6  # generated in one batch of 6, regenerated one by one
    assert {(r.device, r.dtype) for r in results} == {("cpu", "float32")}


def test_other_weights_are_refused_before_generating(s3, publish_run, tmp_path):
    run = publish_run(s3)
    other = build_tiny_pipeline(tmp_path / "other", seed=1)
    with pytest.raises(ValueError, match="weights sha256"):
        reproduce(s3, run.rows[0]["asset_id"], model_dir=other)


def test_unknown_asset_is_a_lookup_error(s3, publish_run, tiny_model_dir):
    publish_run(s3)
    with pytest.raises(LookupError, match="found 0"):
        reproduce(s3, "0" * 32, model_dir=tiny_model_dir)


def test_every_sampler_name_round_trips_through_its_class(tiny_model_dir):
    assert {SCHEDULERS[name].class_name: name for name in SCHEDULERS} == SCHEDULER_NAMES
    row = {"scheduler_class": "EulerDiscreteScheduler", "steps": 7, "guidance_scale": 2.5, "width": 32, "height": 32}
    sampling = sampling_from_row(row, tiny_model_dir)
    assert (sampling.scheduler, sampling.steps, sampling.max_sequence_length) == ("euler", 7, 32)
    with pytest.raises(ValueError, match="known: DDIMScheduler"):
        sampling_from_row({**row, "scheduler_class": "PNDMScheduler"}, tiny_model_dir)
