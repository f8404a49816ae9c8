"""A run's shard plan, stored once in S3 so every shard worker of the fleet reads the same plan.

The plan is planned once by the nightly flow (prompts, seeds, asset ids, shards of whole SKUs)
and written under plans/run=<run_id>/ before any child starts. Children receive only its key:
ten thousand SKUs' prompts would otherwise travel as flow-run parameters into Prefect's
database, once per child. What is local to a machine (signing keys, scorer model folders) is
not in the plan: each worker resolves its own.
"""

import dataclasses
import hashlib
import json
from collections.abc import Sequence

from catalog_concepts.engine.generate import ImageRequest, SamplingSettings
from catalog_concepts.prompts.requests import PlannedImage
from catalog_concepts.shards.shard import RunSpec
from catalog_concepts.storage.keys import check_run_id
from catalog_concepts.storage.publish import put_if_absent

PLAN_VERSION = "run-plan-v1"
CONTENT_TYPE = "application/json"
# RunSpec fields each worker resolves on its own machine.
_LOCAL_FIELDS = ("flow_run_id", "signing_dir", "signing_cert", "signing_key", "scorer_models")


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """What every shard worker of one run shares: the run's spec and its shards."""

    spec: RunSpec
    shards: list[list[PlannedImage]]


def plan_key(run_id: str, digest: str) -> str:
    """plans/run=<run_id>/<16 hex of the plan's content>.json"""
    return f"plans/run={check_run_id(run_id)}/{digest[:16]}.json"


def write_plan(client, bucket: str, spec: RunSpec, shards: Sequence[Sequence[PlannedImage]]) -> str:
    """Store the plan once (content-addressed, create-only); returns its key."""
    spec_fields = {k: v for k, v in dataclasses.asdict(spec).items() if k not in _LOCAL_FIELDS}
    document = {
        "version": PLAN_VERSION,
        "spec": spec_fields,
        "shards": [[_planned_to_json(p) for p in images] for images in shards],
    }
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    key = plan_key(spec.run_id, hashlib.sha256(body).hexdigest())
    put_if_absent(client, bucket, key, body, CONTENT_TYPE)
    return key


def read_plan(client, bucket: str, key: str, **local) -> RunPlan:
    """Read a stored plan; local gives this machine's values of the machine-local RunSpec fields."""
    unknown = sorted(set(local) - set(_LOCAL_FIELDS))
    if unknown:
        raise ValueError(f"not machine-local RunSpec fields: {unknown}; allowed: {', '.join(_LOCAL_FIELDS)}")
    document = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    if document.get("version") != PLAN_VERSION:
        raise ValueError(f"s3://{bucket}/{key}: plan version {document.get('version')!r}, this code reads {PLAN_VERSION!r}")
    fields = dict(document["spec"])
    fields["sampling"] = SamplingSettings(**fields["sampling"])
    spec = RunSpec(**fields, **{name: local.get(name) for name in _LOCAL_FIELDS})
    shards = [[_planned_from_json(item) for item in images] for images in document["shards"]]
    return RunPlan(spec=spec, shards=shards)


def _planned_to_json(p: PlannedImage) -> dict:
    return {
        "request": dataclasses.asdict(p.request), "catalog_row_hash": p.catalog_row_hash, "template_id": p.template_id,
        "template_version": p.template_version, "background": p.background, "attributes": p.attributes,
    }


def _planned_from_json(item: dict) -> PlannedImage:
    return PlannedImage(
        request=ImageRequest(**item["request"]), catalog_row_hash=item["catalog_row_hash"], template_id=item["template_id"],
        template_version=item["template_version"], background=item["background"], attributes=item["attributes"],
    )
