"""The shard task reports each decoded batch to the run's progress (tiny random-weights model, real local S3)."""

import threading
from pathlib import Path

import pytest

from catalog.sample import make_sample_catalog
from catalog.schema import catalog_row_hash
from catalog_concepts.engine.generate import SamplingSettings
from catalog_concepts.engine.load import read_defaults, weights_sha256
from catalog_concepts.prompts.requests import plan_images
from catalog_concepts.reports.progress import RunProgress
from catalog_concepts.shards.shard import RunSpec
from tasks.shard_tasks import render_shard_task

IMAGES = 3


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir):
    return tiny_model_dir


def _spec_and_shard(model_dir: Path, batch_size: int) -> tuple[RunSpec, list]:
    defaults = read_defaults(model_dir)
    sampling = SamplingSettings(scheduler=defaults["scheduler"], steps=2, guidance_scale=float(defaults["guidance_scale"]),
                                width=int(defaults["width"]), height=int(defaults["height"]),
                                max_sequence_length=defaults.get("max_sequence_length"))
    rows = make_sample_catalog(n=IMAGES, seed=4).to_pylist()
    run_id = "2026-10-09-progress"
    planned, errors = plan_images(rows, run_id=run_id, run_seed=0, variants_per_sku=1, row_hash=catalog_row_hash)
    assert not errors and len(planned) == IMAGES
    spec = RunSpec(run_id=run_id, run_date="2026-10-09", flow_run_id=None, catalog_uri="memory://sample",
                   model_dir=str(model_dir), weights_sha256=weights_sha256(model_dir), device="cpu", dtype="auto",
                   sampling=sampling, batch_size=batch_size)
    return spec, planned


def test_each_decoded_batch_moves_the_run_progress_before_the_shard_ends(s3, tiny_model):
    spec, planned = _spec_and_shard(tiny_model, batch_size=1)
    seen, threads = [], set()
    progress = RunProgress(IMAGES, lambda done, total: None, min_interval_s=0.0)
    progress.batch_made = _recording(progress.batch_made, seen, threads)

    outcome = render_shard_task.fn(spec, 0, planned, s3, progress)
    assert len(outcome.rows) == IMAGES and not outcome.resumed
    # One report per batch of one image, from the thread that generated it, before the shard's rows existed.
    assert seen == [(0, 1)] * IMAGES and threads == {threading.get_ident()}
    assert progress.done == IMAGES

    # A shard S3 already holds makes no batch and loads no model: nothing to report until the flow counts it.
    seen.clear()
    again = render_shard_task.fn(spec, 0, planned, s3, progress)
    assert again.resumed and seen == []


def test_two_shards_in_flight_count_only_their_own_batches(s3, tiny_model):
    spec, planned = _spec_and_shard(tiny_model, batch_size=1)
    seen = []
    progress = RunProgress(2 * IMAGES, lambda done, total: None, min_interval_s=0.0)
    by_thread: dict[int, set] = {}

    def batch_made(shard, images):
        by_thread.setdefault(threading.get_ident(), set()).add(shard)
        seen.append((shard, images))

    progress.batch_made = batch_made
    # Two shards on two threads share one pipeline, as on the flow's thread pool: both hooks are on its decoder.
    workers = [threading.Thread(target=render_shard_task.fn, args=(spec, index, planned, s3, progress)) for index in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    assert sorted(seen) == [(1, 1)] * IMAGES + [(2, 1)] * IMAGES
    assert sorted(map(sorted, by_thread.values())) == [[1], [2]]  # each thread reported only its shard

    # Without a progress (the fleet's shard workers) it runs as before.
    assert len(render_shard_task.fn(spec, 3, planned, s3).rows) == IMAGES


def _recording(batch_made, seen: list, threads: set):
    def record(shard, images):
        seen.append((shard, images))
        threads.add(threading.get_ident())
        batch_made(shard, images)

    return record
