"""Finishing images batch by batch, as each batch is decoded.

What an image needs only from itself, its per-image scores, its pHash and its signed label
(PNG with XMP, C2PA last), is made as soon as its batch is decoded: on an accelerator on a
second thread while the next batch generates, so the device never waits for it; on a CPU
inline, because there work beside a generation slows it more than it saves (catalog_concepts/shards/shard.py).
What compares images with each other (diversity, duplicates, selection) and what depends on
the policy (where an image is stored) waits for the whole shard.
"""

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from catalog_concepts.engine.generate import GeneratedImage
from catalog_concepts.prompts.requests import PlannedImage
from catalog_concepts.provenance.c2pa_sign import ImageSigner
from catalog_concepts.provenance.label import LabelledImage, label_image
from catalog_concepts.scoring import duplicates
from catalog_concepts.scoring.base import Scorer
from catalog_concepts.scoring.suite import run_scorers
from catalog_concepts.shards.stage_clock import StageClock, add_seconds

SYSTEM_NAME = "catalog-concepts"


@dataclass(frozen=True)
class FinishedBatch:
    """One batch's per-image scores (and the versions of their scorers), pHashes and labelled PNGs."""

    scores: list[dict[str, float]]
    scorer_versions: dict[str, str]
    hashes: list[str]
    labelled: list[LabelledImage]
    seconds: dict[str, float]  # StageClock seconds of this batch on the finishing thread


def image_context(planned: Sequence[PlannedImage]) -> list[dict]:
    """What the scorers know of each image besides its pixels: prompt, sku, variant, background and catalog fields."""
    return [
        {"prompt": p.request.prompt, "sku": p.request.sku, "variant": p.request.variant, "background": p.background, **p.attributes}
        for p in planned
    ]


def finish_batch(
    planned: Sequence[PlannedImage],
    generated: Sequence[GeneratedImage],
    scorers: Sequence[Scorer],
    signer: ImageSigner | None,
    system_version: str,
    c2pa_parameters: Callable[[PlannedImage], dict],
) -> FinishedBatch:
    """Score (scorers that look at one image at a time), hash and label one batch of generated images."""
    if any(scorer.compares_images for scorer in scorers):
        raise ValueError("a scorer that compares images needs the whole shard, not a batch")
    clock = StageClock()
    pixels = np.stack([g.pixels for g in generated])  # (B, H, W, 3) uint8
    scores, versions = run_scorers(scorers, pixels, image_context(planned))
    hashes = [duplicates.phash(image) for image in pixels]
    clock.lap("scoring")
    # XMP first, C2PA signed last: the signature covers the XMP.
    labelled = [
        label_image(
            g.pixels, asset_id=p.request.asset_id, prompt=p.request.prompt, system=SYSTEM_NAME,
            system_version=system_version, parameters=c2pa_parameters(p), signer=signer,
        )
        for p, g in zip(planned, generated, strict=True)
    ]
    clock.lap("labelling")
    return FinishedBatch(scores, versions, hashes, labelled, clock.seconds)


class Finisher:
    """Finishes each batch handed to it, in the order handed: on one background thread, or inline."""

    def __init__(self, finish: Callable[[Sequence[GeneratedImage]], FinishedBatch], background: bool = True) -> None:
        self._finish = finish
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="finish") if background else None
        self._pending: list[Future] = []

    def add(self, generated: list[GeneratedImage]) -> None:
        """Finish a decoded batch, or queue it for the background thread (catalog_concepts.engine.generate's on_batch)."""
        if self._pool is not None:
            self._pending.append(self._pool.submit(self._finish, generated))
            return
        done: Future = Future()
        done.set_result(self._finish(generated))
        self._pending.append(done)

    def results(self) -> FinishedBatch:
        """Every batch finished, joined in order: one FinishedBatch for the shard (raises a batch's error)."""
        try:
            batches = [future.result() for future in self._pending]
        finally:
            self.close()
        versions: dict[str, str] = {}
        for batch in batches:
            versions.update(batch.scorer_versions)
        return FinishedBatch(
            scores=[s for b in batches for s in b.scores],
            scorer_versions=versions,
            hashes=[h for b in batches for h in b.hashes],
            labelled=[item for b in batches for item in b.labelled],
            seconds=add_seconds(b.seconds for b in batches),
        )

    def close(self) -> None:
        """Stop without waiting for results (generation failed): queued batches are dropped."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "Finisher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
