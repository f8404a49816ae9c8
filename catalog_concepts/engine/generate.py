"""The generation path: batched prompts x variants through any diffusers text-to-image pipeline."""

import inspect
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from catalog_concepts.engine.guidance import guidance_interval, parse_interval
from catalog_concepts.engine.load import LoadedModel
from catalog_concepts.engine.schedulers import make_scheduler
from catalog_concepts.engine.seeds import image_generator
from catalog_concepts.engine.text_cache import embedding_kwargs

# Keyword arguments passed only to pipelines whose __call__ accepts them. PixArt needs
# both off for small custom models: resolution binning renders a 64-px request at its smallest
# aspect bin (256 px), about 40x slower, and clean_caption needs bs4/ftfy for nothing.
_OPTIONAL_CALL_KWARGS = {"use_resolution_binning": False, "clean_caption": False}

# One generation at a time per process: the pipeline and its scheduler are shared state. A call
# holds it for all its batches, so two shards in flight take whole turns: one generates while the
# other is scored, signed and stored. Taken per batch, two shards interleaved their batches, ended
# generating together and then both left the device idle while they finished on the CPU
# (simulated accelerator, 4 shards of 48 images, 2 in flight: 16.9 s vs 19.2 s, median of 4 pairs).
_PIPE_LOCK = threading.RLock()


@contextmanager
def pipeline_turn() -> Iterator[None]:
    """Hold this process's pipeline across several calls of generate and whatever runs between them."""
    with _PIPE_LOCK:
        yield


@dataclass(frozen=True)
class ImageRequest:
    """One image to make: its identity, its own seed, and its prompts."""

    asset_id: str
    sku: str
    variant: int
    seed: int
    prompt: str
    negative_prompt: str


@dataclass(frozen=True)
class SamplingSettings:
    """How every image of a run is sampled."""

    scheduler: str
    steps: int
    guidance_scale: float
    width: int
    height: int
    max_sequence_length: int | None = None
    # "lo,hi": CFG only where the noise level σ is in (lo, hi] (catalog_concepts/engine/guidance.py);
    # None: at every step, plain CFG. Canonical text (GuidanceInterval.text) so that equal intervals
    # make equal request identities.
    guidance_interval: str | None = None

    def check(self) -> None:
        """Raise a short error on values no sampler accepts."""
        if self.guidance_interval is not None:
            interval = parse_interval(self.guidance_interval)
            if interval is None or interval.text() != self.guidance_interval:
                raise ValueError(f"guidance_interval must be canonical 'lo,hi' text or None, got {self.guidance_interval!r}")
        if not 1 <= self.steps <= 1000:
            raise ValueError(f"steps must be in 1..1000, got {self.steps}")
        if not 1.0 <= self.guidance_scale <= 30.0:
            raise ValueError(f"guidance_scale must be in 1..30 (1 = plain conditional), got {self.guidance_scale}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value < 8 or value % 8:
                raise ValueError(f"{name} must be a positive multiple of 8, got {value}")


@dataclass(frozen=True)
class GeneratedImage:
    """Pixels of one image plus what it cost."""

    request: ImageRequest
    pixels: np.ndarray  # (H, W, 3) uint8
    denoiser_evals: int  # denoiser predictions spent on this image (steps x branches)
    compute_seconds: float  # its share of its batch's wall time
    scheduler_class: str
    scheduler_config: dict


def generate(
    model: LoadedModel,
    requests: Sequence[ImageRequest],
    settings: SamplingSettings,
    batch_size: int,
    on_batch: Callable[[list[GeneratedImage]], None] | None = None,
) -> list[GeneratedImage]:
    """Generate every request in batches; an image depends only on its own request and seed.

    on_batch: called with each batch's images as soon as they are decoded, while the pipeline is
    still this call's (e.g. to hand them to a thread that finishes them as the next batch runs).
    """
    settings.check()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    results: list[GeneratedImage] = []
    with _PIPE_LOCK:
        for start in range(0, len(requests), batch_size):
            batch = _generate_batch(model, requests[start : start + batch_size], settings)
            if on_batch is not None:
                on_batch(batch)
            results.extend(batch)
    return results


def _generate_batch(model: LoadedModel, batch: Sequence[ImageRequest], settings: SamplingSettings) -> list[GeneratedImage]:
    import torch

    pipe = model.pipe
    kwargs = _call_kwargs(pipe, batch, settings)
    with torch.inference_mode():
        pipe.scheduler = make_scheduler(settings.scheduler, model.base_scheduler)
        calls = _count_denoiser_calls(pipe)
        started = time.perf_counter()
        embeddings = embedding_kwargs(
            pipe, model.text_cache, [r.prompt for r in batch], [r.negative_prompt for r in batch], settings.max_sequence_length
        )
        if embeddings is not None:
            # PixArt defaults negative_prompt to "" and refuses it beside embeddings: pass None.
            kwargs.update(prompt=None, negative_prompt=None, **embeddings)
        interval = parse_interval(settings.guidance_interval or "") if settings.guidance_scale > 1.0 else None
        with guidance_interval(_denoiser(pipe), interval, pipe.scheduler) as limited:
            output = pipe(**kwargs)
        elapsed = time.perf_counter() - started
        calls.remove()
    images = np.asarray(output.images)  # (B, H, W, 3) float in [0, 1]
    pixels = (images * 255.0).round().clip(0, 255).astype(np.uint8)  # (B, H, W, 3)
    # Batched CFG runs the conditional and unconditional branch in one call: two predictions; a step
    # outside the guidance interval runs the conditional one only.
    branches = 2 if settings.guidance_scale > 1.0 else 1
    evals = calls.count * branches - (limited.single_branch_calls if limited is not None else 0)
    scheduler_config = dict(pipe.scheduler.config)
    return [
        GeneratedImage(
            request=request,
            pixels=pixels[i],
            denoiser_evals=evals,
            compute_seconds=elapsed / len(batch),
            scheduler_class=type(pipe.scheduler).__name__,
            scheduler_config=scheduler_config,
        )
        for i, request in enumerate(batch)
    ]


def _call_kwargs(pipe, batch: Sequence[ImageRequest], settings: SamplingSettings) -> dict:
    negatives = {r.negative_prompt for r in batch}
    accepted = inspect.signature(pipe.__call__).parameters
    kwargs = {
        "prompt": [r.prompt for r in batch],
        # Some pipelines (PixArt) take one negative prompt string for the whole batch.
        "negative_prompt": negatives.pop() if len(negatives) == 1 else [r.negative_prompt for r in batch],
        "num_inference_steps": settings.steps,
        "guidance_scale": settings.guidance_scale,
        # One CPU generator per image: its initial noise does not depend on batch or position.
        "generator": [image_generator(r.seed) for r in batch],
        "width": settings.width,
        "height": settings.height,
        "output_type": "np",
    }
    if settings.max_sequence_length is not None and "max_sequence_length" in accepted:
        kwargs["max_sequence_length"] = settings.max_sequence_length
    kwargs.update({k: v for k, v in _OPTIONAL_CALL_KWARGS.items() if k in accepted})
    return kwargs


class _CallCounter:
    """Counts forward calls of the pipeline's denoiser through a hook (removed after the batch)."""

    def __init__(self, module):
        self.count = 0
        self._handle = module.register_forward_pre_hook(self._hook)

    def _hook(self, module, args):
        self.count += 1

    def remove(self) -> None:
        self._handle.remove()


def _denoiser(pipe):
    denoiser = getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)
    if denoiser is None:
        raise ValueError(f"{type(pipe).__name__} has neither a transformer nor a unet denoiser")
    return denoiser


def _count_denoiser_calls(pipe) -> _CallCounter:
    return _CallCounter(_denoiser(pipe))
