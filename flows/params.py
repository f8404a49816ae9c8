"""The nightly flow's parameters: one pydantic model with defaults (it becomes the Prefect UI form)."""

import datetime as dt
import hashlib
import json

from pydantic import BaseModel, Field, field_validator

from catalog.vocabulary import CATEGORIES
from engine.schedulers import SCHEDULERS


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


class NightlyParams(BaseModel):
    """Everything a nightly run or a backfill can choose; None means "the model's or the system's default"."""

    run_date: dt.date = Field(default_factory=_today, description="Partition date of the run (UTC)")
    catalog_uri: str | None = Field(None, description="Catalog Parquet: local path or s3:// URI (default: the shipped sample)")
    limit: int | None = Field(None, ge=1, description="At most this many SKUs (after filters)")
    skus: list[str] | None = Field(None, description="Only these SKUs")
    categories: list[str] | None = Field(None, description=f"Only these categories: {', '.join(CATEGORIES)}")
    variants_per_sku: int = Field(2, ge=1, le=16, description="Candidate images per SKU")
    model_path: str | None = Field(None, description="Diffusers pipeline folder (default: the shipped model)")
    scheduler: str | None = Field(None, description=f"Sampler: {', '.join(SCHEDULERS)} (default: the model's)")
    steps: int | None = Field(None, ge=1, le=1000, description="Sampling steps (default: the model's)")
    guidance_scale: float | None = Field(None, ge=1.0, le=30.0, description="CFG scale, 1 = no guidance (default: the model's)")
    seed: int = Field(0, ge=0, description="Run seed; each image's seed derives from (seed, sku, variant)")
    batch_size: int = Field(16, ge=1, le=256, description="Images per denoiser batch")
    skus_per_shard: int = Field(128, ge=1, le=10_000, description="SKUs per Prefect task")
    policy_file: str | None = Field(None, description="Review policy YAML (default: policies/default.yaml)")
    thresholds_file: str | None = Field(None, description="Technical-score thresholds YAML (default: scoring/thresholds.yaml)")
    max_bad_fraction: float = Field(0.05, ge=0.0, le=1.0, description="Fail the run when more catalog rows than this are bad")
    bucket: str | None = Field(None, description="Destination bucket (default: CONCEPTS_S3_BUCKET)")
    device: str = Field("auto", description="auto, cpu or cuda")
    run_id: str | None = Field(None, description="Explicit run id (default: derived from the run's inputs)")
    shard_workers: int = Field(
        0, ge=0, le=256,
        description="0: make every shard in this flow's process; N: N child runs of the shard-worker deployment on the GPU pool (about one per GPU)",
    )
    shard_worker_deployment: str = Field("shard_worker/shard-worker", description="Deployment the shard workers run (flow/deployment)")
    shard_timeout_minutes: float = Field(
        30.0, gt=0, le=24 * 60,
        description="With shard workers: when no shard finishes for this long while a shard worker runs (waiting for a free slot does not count), the workers are cancelled and the pending shards retried once elsewhere, then the run fails naming them",
    )

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, value: str | None) -> str | None:
        if value is not None and value not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {value!r}; allowed: {', '.join(SCHEDULERS)}")
        return value

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or ()) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; allowed: {', '.join(CATEGORIES)}")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be one of auto, cpu, cuda; got {value!r}")
        return value


# Parameters left out of the run id. Some cannot change any image or decision (batch size,
# shard size, bucket, device), so a rerun with another batch size resumes the same run. The
# others name inputs by path or by filter (catalog, model, policy, thresholds; limit, skus,
# categories): the run id covers what those resolve to instead — the digest of the catalog rows
# read after filtering, the weights' digest, the policy's and thresholds' digests — so an edited
# file makes a new run and the same content under another path is the same run.
_NOT_IN_RUN_ID = {
    "batch_size", "skus_per_shard", "max_bad_fraction", "bucket", "device", "run_id", "shard_workers", "shard_worker_deployment", "shard_timeout_minutes",
    "catalog_uri", "model_path", "policy_file", "thresholds_file", "limit", "skus", "categories",
}


def derive_run_id(params: NightlyParams, resolved: dict) -> str:
    """A run id stable across reruns of the same inputs: "<run_date>-<12 hex of their hash>".

    resolved: the content the run depends on, by digest (catalog rows, weights, policy,
    thresholds, selection) and the sampling settings the model's defaults resolved to.
    """
    if params.run_id:
        return params.run_id
    fingerprint = params.model_dump(mode="json", exclude=_NOT_IN_RUN_ID)
    fingerprint.update(resolved)
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:12]
    return f"{params.run_date.isoformat()}-{digest}"
