"""reproduce: regenerate images from their manifest rows alone and judge the pixels.

Verdicts: identical, within tolerance (TOLERANCE), different. Measured (bench/reproducibility.py):
bit-identical on the same device, dtype and thread count in a batch of the same size, whatever
the batch mates; another batch size or thread count may flip single pixels by one level.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from catalog_concepts.engine.device import choose_placement
from catalog_concepts.engine.generate import generate
from catalog_concepts.engine.load import clear_cache, load_model
from catalog_concepts.engine.schedulers import SCHEDULERS
from catalog_concepts.engine.tiny import build_tiny_pipeline
from catalog_concepts.provenance.reproduce import (
    DIFFERENT,
    IDENTICAL,
    SCHEDULER_NAMES,
    TOLERANCE,
    WITHIN_TOLERANCE,
    Tolerance,
    compare_pixels,
    recorded_threads,
    reproduce,
    sampling_from_row,
)

BATCH = 6  # conftest's `generated` makes its six images in one batch


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """reproduce pins torch's CPU threads process-wide; later tests get the count back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _image(seed: int = 0, shape=(32, 32, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _nudged(image: np.ndarray, levels: int, every: int) -> np.ndarray:
    """image with `levels` added to (or, at 255, taken from) every `every`-th channel value."""
    out = image.astype(np.int16).ravel()
    index = np.arange(0, out.size, every)
    out[index] += np.where(out[index] + levels > 255, -levels, levels)
    return out.reshape(image.shape).astype(np.uint8)


# (name, stored, regenerated, verdict, max |diff|, values differing); PSNR is checked from the MSE.
BASE = _image()
TABLE = [
    ("identical arrays", BASE, BASE.copy(), IDENTICAL, 0, 0),
    ("+-1 level on every 100th value", BASE, _nudged(BASE, 1, 100), WITHIN_TOLERANCE, 1, 31),
    ("+-1 level on every value (PSNR 48.1 dB)", BASE, _nudged(BASE, 1, 1), WITHIN_TOLERANCE, 1, BASE.size),
    ("one value off by 2 levels", BASE, _nudged(BASE, 2, BASE.size), WITHIN_TOLERANCE, 2, 1),
    ("one value off by 3 levels", BASE, _nudged(BASE, 3, BASE.size), DIFFERENT, 3, 1),
    ("+-2 levels on every value (PSNR 42.1 dB < 45)", BASE, _nudged(BASE, 2, 1), DIFFERENT, 2, BASE.size),
    ("a different image", BASE, _image(seed=1), DIFFERENT, None, None),
]


@pytest.mark.parametrize("name, stored, regenerated, verdict, max_abs, differing", TABLE, ids=[t[0] for t in TABLE])
def test_verdict_table(name, stored, regenerated, verdict, max_abs, differing):
    result = compare_pixels(stored, regenerated)
    diff = np.abs(stored.astype(float) - regenerated.astype(float))
    mse = float(np.mean(diff**2))
    assert result.verdict == verdict
    assert result.max_abs_diff == (max_abs if max_abs is not None else int(diff.max()))
    assert result.pixels_differing == (differing if differing is not None else int(np.count_nonzero(diff)))
    assert result.mean_abs_diff == pytest.approx(float(diff.mean()))
    assert result.psnr_db == (math.inf if mse == 0 else pytest.approx(10 * math.log10(255**2 / mse)))


def test_tolerance_is_the_stated_one_and_a_stricter_one_changes_the_verdict():
    assert (TOLERANCE.max_abs_diff, TOLERANCE.min_psnr_db) == (2, 45.0)
    assert TOLERANCE.describe() == "max |diff| <= 2 and PSNR >= 45 dB"
    nudged = _nudged(BASE, 1, 100)
    assert compare_pixels(BASE, nudged, Tolerance(max_abs_diff=0, min_psnr_db=45.0)).verdict == DIFFERENT
    assert compare_pixels(BASE, nudged, Tolerance(max_abs_diff=1, min_psnr_db=90.0)).verdict == DIFFERENT


def test_images_that_cannot_be_compared_are_a_clear_error():
    with pytest.raises(ValueError, match=r"stored image is \(32, 32, 3\), regenerated \(64, 64, 3\): sizes differ"):
        compare_pixels(BASE, _image(shape=(64, 64, 3)))
    with pytest.raises(ValueError, match="regenerated image must be a uint8 numpy array, got float32"):
        compare_pixels(BASE, BASE.astype(np.float32))
    with pytest.raises(ValueError, match="no pixels"):
        compare_pixels(BASE[:0], BASE[:0])


@pytest.mark.parametrize(
    "device_name, threads",
    [("cpu x2 threads", 2), ("cpu x1 threads", 1), ("cpu", None), ("NVIDIA H100 80GB HBM3", None)],
)
def test_recorded_threads(device_name, threads):
    assert recorded_threads(device_name) == threads


def test_every_published_image_regenerates_identically_in_a_batch_of_its_size(s3, publish_run, tiny_model_dir):
    run = publish_run(s3)
    clear_cache()  # regenerate from a fresh load of the folder, not the pipeline that made them
    results = [reproduce(s3, row["asset_id"], model_dir=tiny_model_dir, batch_size=BATCH) for row in run.rows]
    # Same device, dtype, thread count (read from the row) and batch size: every pixel equal.
    assert [r.verdict for r in results] == [IDENTICAL] * 6
    assert all(r.comparison.max_abs_diff == 0 and r.comparison.psnr_db == math.inf for r in results)
    assert {(r.device, r.dtype, r.threads, r.batch_size) for r in results} == {
        ("cpu", "float32", recorded_threads(run.rows[0]["device_name"]), BATCH)
    }
    assert results[0].summary().startswith(f"{run.rows[0]['asset_id']}: identical (max |diff| 0, ")


def test_an_image_guided_in_an_interval_regenerates_identically(s3, publish_run, sampling, tiny_model_dir):
    """The row's guidance_interval is honoured: regenerating without it would give other pixels."""
    limited = dataclasses.replace(sampling, guidance_interval="0,5")
    run = publish_run(s3, sampled=limited)
    assert {row["guidance_interval"] for row in run.rows} == {"0,5"}
    assert sampling_from_row(run.rows[0], tiny_model_dir).guidance_interval == "0,5"
    clear_cache()
    results = [reproduce(s3, row["asset_id"], model_dir=tiny_model_dir, batch_size=BATCH) for row in run.rows]
    assert [r.verdict for r in results] == [IDENTICAL] * 6
    plain = publish_run(s3, run_id="2026-11-26-plain", commit=False).rows
    assert {row["sha256"] for row in plain}.isdisjoint(row["sha256"] for row in run.rows)


def test_other_batch_mates_and_positions_give_the_same_pixels(generated, sampling, tiny_model_dir):
    """What reproduce relies on: at one batch size, an image's batch mates and position do not matter."""
    _, model, images = generated
    requests = [g.request for g in images]
    clear_cache()  # a cold embedding cache: prompts are encoded in another order than the first time
    fresh = load_model(tiny_model_dir, choose_placement("cpu", "float32", threads=model.placement.threads))
    reversed_batch = generate(fresh, requests[::-1], sampling, batch_size=BATCH)[::-1]
    copies = [generate(fresh, [r] * BATCH, sampling, batch_size=BATCH)[0] for r in requests]
    for original, again, alone in zip(images, reversed_batch, copies, strict=True):
        assert compare_pixels(original.pixels, again.pixels).verdict == IDENTICAL
        assert compare_pixels(original.pixels, alone.pixels).verdict == IDENTICAL
    # Six distinct images: the equalities above do not compare one constant picture.
    assert len({g.pixels.tobytes() for g in images}) == BATCH


@pytest.mark.parametrize("batch_size, threads", [(1, None), (16, 1), (1, 1)])
def test_another_batch_size_or_thread_count_is_never_different(s3, publish_run, tiny_model_dir, batch_size, threads):
    """Batches of 1-5 and other thread counts run other kernels: identical, or within tolerance."""
    run = publish_run(s3)
    for row in run.rows:
        result = reproduce(s3, row["asset_id"], model_dir=tiny_model_dir, batch_size=batch_size, threads=threads)
        c = result.comparison
        assert result.reproduced and c.verdict in (IDENTICAL, WITHIN_TOLERANCE), result.summary()
        assert (c.verdict == IDENTICAL) == (c.max_abs_diff == 0) == (c.pixels_differing == 0) == (c.psnr_db == math.inf)
        assert c.max_abs_diff <= TOLERANCE.max_abs_diff and c.psnr_db >= TOLERANCE.min_psnr_db
        assert result.batch_size == batch_size and result.threads == (threads or recorded_threads(row["device_name"]))


def test_cli_prints_one_verdict_line_and_exits_1_only_when_different(s3_env, publish_run, tiny_model_dir):
    from typer.testing import CliRunner

    from catalog_concepts.cli.provenance_cmds import app
    from catalog_concepts.storage.settings import boto3_client, split_s3_uri

    run = publish_run(s3_env)
    runner = CliRunner()
    asset = run.rows[0]["asset_id"]
    ok = runner.invoke(app, ["reproduce", asset, "--model", str(tiny_model_dir), "--batch-size", str(BATCH)])
    assert ok.exit_code == 0, ok.output
    (line,) = ok.output.strip().splitlines()
    assert line.startswith(f"{asset}: identical (max |diff| 0, mean |diff| 0.00000, PSNR inf dB; tolerance max |diff| <= 2")
    assert line.endswith(f"in a batch of {BATCH}")
    # Put another image's PNG where the row's object is: a different picture, exit 1.
    client = boto3_client(s3_env)
    bucket, key = split_s3_uri(run.rows[0]["s3_uri"])
    _, other_key = split_s3_uri(run.rows[1]["s3_uri"])
    client.put_object(Bucket=bucket, Key=key, Body=client.get_object(Bucket=bucket, Key=other_key)["Body"].read())
    bad = runner.invoke(app, ["reproduce", asset, "--model", str(tiny_model_dir), "--batch-size", str(BATCH)])
    assert bad.exit_code == 1, bad.output
    assert bad.output.startswith(f"{asset}: different (max |diff| ") and len(bad.output.strip().splitlines()) == 1


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
