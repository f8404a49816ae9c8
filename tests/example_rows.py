"""Complete manifest rows for tests, made by the worker's own builder (catalog_concepts.provenance.manifest_row).

Every test that needs a manifest row starts here, so a column added to the schema is added once,
in the builder. `example_row` takes the parts a test cares about and plain values for the rest;
`columns` replaces single columns afterwards (a value the builder would never write, a NaN score,
a column left out on purpose is a test's own business, and says so at the call).
"""

import datetime as dt

from catalog_concepts.provenance.manifest_row import Judgement, Making, Origin, Stored, manifest_row
from catalog_concepts.storage.manifest import FIELD_DOCS

REVIEW_STATUS = {"publish_labeled_preview": "not_required", "human_review": "pending", "reject": "not_applicable"}


def example_origin(run_id: str = "run-1", sku: str = "SKU-1", variant: int = 0, run_date: dt.date = dt.date(2026, 11, 26),
                   **fields) -> Origin:
    """What a test run asked for: one SKU's variant, with a prompt naming the SKU."""
    values = {
        "run_id": run_id, "flow_run_id": None, "run_date": run_date, "sku": sku, "variant": variant,
        "catalog_row_hash": "c" * 64, "catalog_uri": "catalog/samples/sample_catalog.parquet", "category": "table",
        "prompt": f"a product photo of {sku}", "negative_prompt": "blurry", "template_id": "studio", "template_version": "1",
        "seed": 2**40 + variant, "request_sha256": "r" * 64,
    }
    return Origin(**{**values, **fields})


def example_making(**fields) -> Making:
    """A tiny model's making: DDIM, 4 steps, w = 3, on the CPU."""
    values = {
        "model_id": "tiny", "weights_sha256": "w" * 64, "pipeline_class": "PixArtAlphaPipeline", "scheduler_class": "DDIMScheduler",
        "scheduler_config": {"num_train_timesteps": 1000, "clip_sample": False}, "steps": 4, "guidance_scale": 3.0,
        "dtype": "float32", "width": 32, "height": 32, "device_name": "cpu", "denoiser_evals": 8, "compute_seconds": 0.1,
    }
    return Making(**{**values, **fields})


def example_judgement(decision: str = "publish_labeled_preview", **fields) -> Judgement:
    """A policy decision with the review status the worker's routing gives it; a rule fires unless published."""
    published = decision == "publish_labeled_preview"
    values = {
        "scores": {"sharpness": 0.5}, "scorer_versions": {"sharpness": "1"}, "phash": "f0f0f0f0f0f0f0f0", "decision": decision,
        "rule_ids": () if published else ("R-TEST",), "decision_reasons": () if published else ("test rule matched",),
        "policy_sha256": "p" * 64, "review_status": REVIEW_STATUS.get(decision, "pending"), "policy_inputs": None, "kept": True,
        "selection_rank": 1, "selection_composite": 0.5,
    }
    return Judgement(**{**values, **fields})


def example_row(
    run_id: str = "run-1",
    sku: str = "SKU-1",
    variant: int = 0,
    *,
    run_date: dt.date = dt.date(2026, 11, 26),
    origin: Origin | None = None,
    making: Making | None = None,
    judgement: Judgement | None = None,
    stored: Stored | None = None,
    created_at: dt.datetime | None = None,
    **columns,
) -> dict:
    """A complete manifest row (every column), built by manifest_row; `columns` then replaces named columns."""
    unknown = sorted(set(columns) - set(FIELD_DOCS))
    if unknown:
        raise ValueError(f"not manifest columns: {unknown}")
    row = manifest_row(
        origin or example_origin(run_id, sku, variant, run_date),
        making or example_making(),
        judgement or example_judgement(),
        stored,
        created_at or dt.datetime.combine(run_date, dt.time(2, 0, variant), tzinfo=dt.UTC),
    )
    return {**row, **columns}


def stored_at(bucket: str, put, c2pa_manifest_label: str | None = None) -> Stored:
    """The Stored part of an image a test PUT (a catalog_concepts.storage.publish.PutResult)."""
    return Stored(bucket=bucket, key=put.key, sha256=put.sha256_hex, bytes=put.bytes, c2pa_manifest_label=c2pa_manifest_label)
