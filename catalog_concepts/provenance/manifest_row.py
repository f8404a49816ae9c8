"""One manifest row: the only place the manifest's columns are written.

The shard worker builds every row of a night here, and so does every test that needs a row, so a
column added to the schema (catalog_concepts/storage/manifest.py) is added once. A row is made of
four parts a reader can check on their own: what was asked (Origin), how the model made it
(Making), what the scorers, the policy and selection said (Judgement), and what S3 holds (Stored).
The columns of the process that writes the row (library versions, host, pid) are filled here.
"""

import datetime as dt
import json
import math
import os
import socket
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version

from catalog_concepts.provenance.xmp import DIGITAL_SOURCE_TYPE
from catalog_concepts.storage.keys import asset_id


@dataclass(frozen=True)
class Origin:
    """What was asked: the run, the catalog row, the prompt and the image's own seed."""

    run_id: str
    flow_run_id: str | None  # the flow run that made the image (a shard worker's, on a fleet); None outside Prefect
    run_date: dt.date
    sku: str
    variant: int
    catalog_row_hash: str
    catalog_uri: str
    category: str | None
    prompt: str
    negative_prompt: str
    template_id: str
    template_version: str
    seed: int
    request_sha256: str | None  # catalog_concepts.engine.request_identity.request_sha256


@dataclass(frozen=True)
class Making:
    """How the model made the image: enough, with Origin, to regenerate it."""

    model_id: str
    weights_sha256: str
    pipeline_class: str
    scheduler_class: str
    scheduler_config: dict
    steps: int
    guidance_scale: float
    dtype: str
    width: int
    height: int
    device_name: str
    denoiser_evals: int
    compute_seconds: float
    generator_device: str = "cpu"
    guidance_interval: str | None = None  # "lo,hi" in EDM σ; None: guidance at every step


@dataclass(frozen=True)
class Judgement:
    """What the scorers, the review policy and per-SKU selection said about the image."""

    scores: dict[str, float | None]
    scorer_versions: dict[str, str]
    phash: str | None
    decision: str
    rule_ids: tuple[str, ...]
    decision_reasons: tuple[str, ...]
    policy_sha256: str
    review_status: str
    policy_inputs: dict | None  # the exact row the policy judged (`policy explain` reads it back)
    kept: bool | None = None  # None: selection did not run
    selection_rank: int | None = None
    selection_composite: float | None = None
    drop_reason: str | None = None


@dataclass(frozen=True)
class Stored:
    """The object S3 holds for the image."""

    bucket: str
    key: str
    sha256: str
    bytes: int
    c2pa_manifest_label: str | None  # None: the image carries XMP only, no C2PA manifest


def manifest_row(origin: Origin, making: Making, judgement: Judgement, stored: Stored | None, created_at: dt.datetime) -> dict:
    """The manifest row of one image, every column of the schema (stored None: the image was not stored)."""
    return {
        "run_id": origin.run_id,
        "flow_run_id": origin.flow_run_id,
        "run_date": origin.run_date,
        "asset_id": asset_id(origin.run_id, origin.sku, origin.variant),
        "sku": origin.sku,
        "catalog_row_hash": origin.catalog_row_hash,
        "catalog_uri": origin.catalog_uri,
        "variant": origin.variant,
        "prompt": origin.prompt,
        "negative_prompt": origin.negative_prompt,
        "template_id": origin.template_id,
        "template_version": origin.template_version,
        "model_id": making.model_id,
        "weights_sha256": making.weights_sha256,
        "pipeline_class": making.pipeline_class,
        "scheduler_class": making.scheduler_class,
        "scheduler_config": json.dumps(making.scheduler_config, sort_keys=True, default=str),
        "steps": making.steps,
        "guidance_scale": making.guidance_scale,
        "seed": origin.seed,
        "generator_device": making.generator_device,
        "dtype": making.dtype,
        "width": making.width,
        "height": making.height,
        **_library_versions(),
        "device_name": making.device_name,
        "denoiser_evals": making.denoiser_evals,
        "compute_seconds": making.compute_seconds,
        # A missing or non-finite score is left out: the policy already treated it as failing.
        "scores": {name: float(value) for name, value in judgement.scores.items() if value is not None and math.isfinite(value)},
        "scorer_versions": dict(judgement.scorer_versions),
        "decision": judgement.decision,
        "rule_ids": list(judgement.rule_ids),
        "decision_reasons": list(judgement.decision_reasons),
        "policy_sha256": judgement.policy_sha256,
        "review_status": judgement.review_status,
        "s3_uri": None if stored is None else f"s3://{stored.bucket}/{stored.key}",
        "sha256": None if stored is None else stored.sha256,
        "bytes": None if stored is None else stored.bytes,
        "phash": judgement.phash,
        "digital_source_type": DIGITAL_SOURCE_TYPE,
        "created_at": created_at,
        "c2pa_manifest_label": None if stored is None else stored.c2pa_manifest_label,
        "category": origin.category,
        "kept": judgement.kept,
        "selection_rank": judgement.selection_rank,
        "selection_composite": judgement.selection_composite,
        "drop_reason": judgement.drop_reason,
        "policy_inputs": None if judgement.policy_inputs is None else _policy_inputs_json(judgement.policy_inputs),
        "request_sha256": origin.request_sha256,
        "worker_host": socket.gethostname(),
        "worker_pid": os.getpid(),
        "guidance_interval": making.guidance_interval,
    }


@cache
def _library_versions() -> dict[str, str]:
    # The installed distributions' versions (what torch.__version__ and friends report, "2.13.0+cpu"
    # included), read without importing torch: a row built outside the worker stays cheap.
    return {f"{name}_version": version(name) for name in ("torch", "diffusers", "transformers")}


def _policy_inputs_json(inputs: dict) -> str:
    """The policy's inputs as a JSON object: NaN as null (JSON has no NaN), dates as ISO text."""
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in inputs.items()}
    return json.dumps(clean, sort_keys=True, default=str)
