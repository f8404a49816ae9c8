"""catalog_concepts/shards/finish.py: batches finished on the second thread come back in order, one result per image."""

import threading

import numpy as np
import pytest

from catalog_concepts.engine.generate import GeneratedImage, ImageRequest
from catalog_concepts.prompts.requests import PlannedImage
from catalog_concepts.scoring.base import Scorer
from catalog_concepts.shards.finish import Finisher, finish_batch


def _image(i: int) -> tuple[PlannedImage, GeneratedImage]:
    request = ImageRequest(f"asset-{i}", f"SKU-{i // 2}", i % 2, i, f"a red mug {i // 2}", "text")
    pixels = np.full((16, 16, 3), 10 * i, dtype=np.uint8)  # (H, W, 3)
    return (PlannedImage(request, "hash", "t", "1", "white", {"category": "mug"}),
            GeneratedImage(request, pixels, 2, 0.01, "DDIMScheduler", {}))


def _brightness(images, context):
    return [{"mean": float(image.mean())} for image in images]


def _finish(batch, threads=None):
    if threads is not None:
        threads.add(threading.get_ident())
    planned = [_image(int(g.request.asset_id.split("-")[1]))[0] for g in batch]
    return finish_batch(planned, batch, [Scorer("bright", "1", _brightness)], None, system_version="m", c2pa_parameters=lambda p: {})


def test_batches_are_finished_off_the_calling_thread_and_joined_in_order():
    images = [_image(i)[1] for i in range(5)]
    threads: set[int] = set()
    with Finisher(lambda batch: _finish(batch, threads)) as finisher:
        for start in (0, 2, 4):
            finisher.add(images[start : start + 2])
        result = finisher.results()
    assert [s["mean"] for s in result.scores] == [10.0 * i for i in range(5)]
    assert len(result.hashes) == len(result.labelled) == 5 and result.scorer_versions == {"bright": "1"}
    assert all(item.png.startswith(b"\x89PNG") and item.c2pa_manifest_label is None for item in result.labelled)
    assert threads and threading.get_ident() not in threads
    assert set(result.seconds) == {"scoring", "labelling"}


def test_inline_finishing_runs_on_the_calling_thread_as_each_batch_arrives():
    images = [_image(i)[1] for i in range(3)]
    threads: set[int] = set()
    with Finisher(lambda batch: _finish(batch, threads), background=False) as finisher:
        finisher.add(images[:2])
        assert threads == {threading.get_ident()}  # done before add returned
        finisher.add(images[2:])
        result = finisher.results()
    assert [s["mean"] for s in result.scores] == [0.0, 10.0, 20.0] and len(result.labelled) == 3


def test_a_failed_batch_fails_the_results_and_a_comparing_scorer_is_refused():
    def broken(batch):
        raise RuntimeError("scorer crashed")

    with Finisher(broken) as finisher:
        finisher.add([_image(0)[1]])
        with pytest.raises(RuntimeError, match="scorer crashed"):
            finisher.results()
    planned, generated = _image(0)
    with pytest.raises(ValueError, match="whole shard"):
        finish_batch([planned], [generated], [Scorer("d", "1", _brightness, compares_images=True)], None, "m", lambda p: {})
