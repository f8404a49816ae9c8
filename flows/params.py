"""The nightly flow's parameters: one pydantic model with defaults, shown in the Prefect UI as a flat form.

The flows take these fields as flat parameters (flows/flat_parameters.py). For a form a person can
fill, every field has a plain default a form can show: 0 or an empty value means "the model's / the
system's default" where None used to, closed vocabularies are drop-downs, models and policies are
picked by name from the registry (infra/registry.yaml), and the run date is resolved when the run
starts (an empty date is today), never when the module is imported or the flow deployed.
"""

import datetime as dt
import hashlib
import json
from typing import Annotated, Literal

from pydantic import MISSING, AfterValidator, BaseModel, BeforeValidator, Field, WithJsonSchema

from catalog.vocabulary import CATEGORIES
from catalog_concepts.engine.guidance import parse_interval
from catalog_concepts.engine.schedulers import SCHEDULERS
from flows.registry import DEFAULT_MODEL, DEFAULT_POLICY, check_choice, load_registry

# Read once per process: the names a deployment offers are those of the registry it was deployed with.
REGISTRY = load_registry()
MODEL_DEFAULT = "model default"
# Literal types render as drop-downs in the Prefect UI's run form.
Category = Literal[CATEGORIES]  # type: ignore[valid-type]
SchedulerChoice = Literal[(MODEL_DEFAULT, *SCHEDULERS)]  # type: ignore[valid-type]
Device = Literal["auto", "cpu", "cuda"]


def today() -> dt.date:
    """Today's date in UTC, when called."""
    return dt.datetime.now(dt.UTC).date()


def _blank_is_today(value: object) -> object:
    # Left out (MISSING), a cleared field ("" or null), or the word "today" from the CLI or the API.
    return today() if value is MISSING or value in (None, "", "today") else value


def _guidance(value: float) -> float:
    if value != 0 and not 1.0 <= value <= 30.0:
        raise ValueError(f"guidance_scale must be 0 (the model's default) or between 1 and 30; got {value}")
    return value


def _interval_text(value: str) -> str:
    """"" (the model's default), "all", or canonical "lo,hi"; anything else is refused with what is allowed."""
    if value.strip() == "":
        return ""
    interval = parse_interval(value)
    return "all" if interval is None else interval.text()


# A date a form shows as a date picker that may stay empty: empty (or "today") is today, UTC, when the
# parameters are validated, i.e. when the run starts. Fields of this type default to MISSING (with
# validate_default): their schema has no default at all, so no date is ever written into a
# deployment, and the Prefect UI leaves an untouched date out of the run's parameters (a null
# default would fail its own check, "None is not of type 'string'").
RunDay = Annotated[dt.date, BeforeValidator(_blank_is_today), WithJsonSchema({"type": "string", "format": "date"})]
ModelName = Annotated[str, BeforeValidator(lambda v: v or DEFAULT_MODEL),
                      AfterValidator(lambda v: check_choice("model", v, tuple(REGISTRY.models)))]
PolicyName = Annotated[str, BeforeValidator(lambda v: v or DEFAULT_POLICY),
                       AfterValidator(lambda v: check_choice("policy", v, tuple(REGISTRY.policies)))]


class NightlyParams(BaseModel):
    """Everything a nightly run or a backfill can choose; 0 or empty means "the model's or the system's default"."""

    run_date: RunDay = Field(MISSING, validate_default=True, title="Run date",
                             description="Partition date of the run, UTC (empty: today, when the run starts)")
    catalog_uri: str = Field("", title="Catalog", description="Catalog Parquet: s3:// URI or a path on the worker (empty: the shipped 58-row sample)")
    allow_sample_catalog: bool = Field(
        False, title="Allow the sample catalog",
        description="Run on the shipped sample catalog on purpose (a demo); off, a run whose catalog is the sample is refused",
    )
    limit: int = Field(0, ge=0, title="SKU limit", description="At most this many SKUs, after filters (0: every SKU)")
    skus: list[str] = Field([], title="SKUs", description="Only these SKUs (empty: all)")
    categories: list[Category] = Field([], title="Categories", description="Only these categories (empty: all)")
    variants_per_sku: int = Field(2, ge=1, le=16, title="Images per SKU", description="Candidate images per SKU")
    model: ModelName = Field(
        DEFAULT_MODEL, title="Model", json_schema_extra={"enum": list(REGISTRY.models)},
        description="Model by name, from the deployment's registry (infra/registry.yaml)",
    )
    scheduler: SchedulerChoice = Field(MODEL_DEFAULT, title="Sampler", description="Sampler (model default: the model's own)")
    steps: int = Field(0, ge=0, le=1000, title="Sampling steps", description="Sampling steps (0: the model's default)")
    guidance_scale: Annotated[float, AfterValidator(_guidance)] = Field(
        0.0, ge=0.0, le=30.0, title="Guidance scale", description="CFG scale, 1 = no guidance (0: the model's default)",
    )
    guidance_interval: Annotated[str, AfterValidator(_interval_text)] = Field(
        "", title="Guidance interval",
        description="Noise levels (EDM sigma) where guidance applies: 'all' (every step), or 'low,high' such as '0,5' "
                    "(no guidance at the noisiest steps keeps variants varied) (empty: the model's default)",
    )
    seed: int = Field(0, ge=0, title="Seed", description="Run seed; each image's seed derives from (seed, sku, variant)")
    batch_size: int = Field(16, ge=1, le=256, title="Batch size", description="Images per denoiser batch")
    skus_per_shard: int = Field(128, ge=1, le=10_000, title="SKUs per shard", description="SKUs per Prefect task")
    policy: PolicyName = Field(
        DEFAULT_POLICY, title="Review policy", json_schema_extra={"enum": list(REGISTRY.policies)},
        description="Review policy by name, from the deployment's registry (infra/registry.yaml)",
    )
    thresholds_file: str = Field("", title="Thresholds file",
                                 description="Technical-score thresholds YAML on the worker (empty: the packaged scoring/thresholds.yaml)")
    max_bad_fraction: float = Field(0.05, ge=0.0, le=1.0, title="Most bad rows",
                                    description="Fail the run when more catalog rows than this fraction are bad")
    bucket: str = Field("", title="Bucket", description="Destination bucket (empty: the configured one)")
    device: Device = Field("auto", title="Device", description="auto, cpu or cuda")
    run_id: str = Field("", title="Run id", description="Explicit run id (empty: derived from the run's inputs)")
    shard_workers: int = Field(
        0, ge=0, le=256, title="Shard workers",
        description="0: make every shard in this flow's process; N: N child runs of the shard-worker deployment on the GPU pool (about one per GPU)",
    )
    shard_worker_deployment: str = Field("shard_worker/shard-worker", title="Shard-worker deployment",
                                         description="Deployment the shard workers run (flow/deployment)")
    shard_timeout_minutes: float = Field(
        30.0, gt=0, le=24 * 60, title="Shard timeout (minutes)",
        description="With shard workers: when no shard finishes for this long while a shard worker runs (waiting for a free slot does "
                    "not count), the workers are cancelled and the pending shards retried once elsewhere, then the run fails naming them",
    )


# Parameters left out of the run id. Some cannot change any image or decision (batch size,
# shard size, bucket, device), so a rerun with another batch size resumes the same run. The
# others name inputs by path, by name or by filter (catalog, model, policy, thresholds; limit,
# skus, categories): the run id covers what those resolve to instead — the digest of the catalog
# rows read after filtering, the weights' digest, the policy's and thresholds' digests — so an
# edited file makes a new run and the same content under another name is the same run.
_NOT_IN_RUN_ID = {
    "batch_size", "skus_per_shard", "max_bad_fraction", "bucket", "device", "run_id", "shard_workers", "shard_worker_deployment",
    "shard_timeout_minutes",
    # The resolved sampling settings name the interval (only when one is used, so run ids made before
    # intervals existed stay the same).
    "guidance_interval",
    "catalog_uri", "allow_sample_catalog", "model", "policy", "thresholds_file", "limit", "skus", "categories",
}
# The "model's default" of the form, written as the run id has always written it (null), so run ids
# made before the form had plain defaults stay the same for the same inputs.
_MODEL_DEFAULTS = {"scheduler": MODEL_DEFAULT, "steps": 0, "guidance_scale": 0.0}


def derive_run_id(params: NightlyParams, resolved: dict) -> str:
    """A run id stable across reruns of the same inputs: "<run_date>-<12 hex of their hash>".

    resolved: the content the run depends on, by digest (catalog rows, weights, policy,
    thresholds, selection) and the sampling settings the model's defaults resolved to.
    """
    if params.run_id:
        return params.run_id
    fingerprint = params.model_dump(mode="json", exclude=_NOT_IN_RUN_ID)
    fingerprint.update({k: None for k, default in _MODEL_DEFAULTS.items() if fingerprint[k] == default})
    fingerprint.update(resolved)
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:12]
    return f"{params.run_date.isoformat()}-{digest}"
