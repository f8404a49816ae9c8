"""The deployments of infra/prefect.yaml: read, served by this process, or put on a local process work pool.

Serving reads the same prefect.yaml a production deploy does (names, entrypoints, schedules,
descriptions), so the local UI shows exactly the deployments and schedule production has. The
servers themselves (a loopback `prefect server`, process workers) are catalog_concepts/local_services.
Prefect is imported inside the functions: the CLI sets PREFECT_HOME and PREFECT_API_URL first.
"""

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from catalog_concepts.assets import prefect_yaml, source_root

PREFECT_YAML = prefect_yaml()  # infra/prefect.yaml, shipped in the package as catalog_concepts/infra_defaults/
# The fleet's child flow: never served by the stack's own process (a served shard worker would
# wait for the one slot its nightly parent holds); it runs on the GPU pool's workers.
SHARD_WORKER = "shard-worker"
GPU_POOL = "gpu-pool"


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of prefect.yaml: name, entrypoint, description, tags, schedules, concurrency."""

    name: str
    entrypoint: str
    description: str
    tags: tuple[str, ...]
    schedules: tuple[dict, ...]
    concurrency_limit: int | None


def deployment_specs(path: Path = PREFECT_YAML) -> list[DeploymentSpec]:
    """The deployments declared in prefect.yaml (aliases resolved by the YAML loader)."""
    document = yaml.safe_load(path.read_text())
    specs = []
    for entry in document.get("deployments") or []:
        missing = [k for k in ("name", "entrypoint") if not entry.get(k)]
        if missing:
            raise ValueError(f"{path}: a deployment lacks {missing}")
        specs.append(DeploymentSpec(
            name=entry["name"], entrypoint=entry["entrypoint"], description=entry.get("description", ""),
            tags=tuple(entry.get("tags") or ()), schedules=tuple(entry.get("schedules") or ()),
            concurrency_limit=entry.get("concurrency_limit"),
        ))
    return specs


def load_entrypoint(entrypoint: str):
    """The flow object named by 'path/to/file.py:function' relative to source_root() (imported as a module)."""
    path, _, name = entrypoint.partition(":")
    if not path.endswith(".py") or not name:
        raise ValueError(f"entrypoint {entrypoint!r}: expected 'path/to/file.py:flow_function'")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


def served_deployments(path: Path = PREFECT_YAML, shard_workers: int = 0) -> list:
    """RunnerDeployments for prefect.yaml's deployments but the shard worker, with schedules and timezone.

    shard_workers > 0 makes it the nightly's and the backfill's default: a scheduled night fans
    out to that many shard workers on the GPU pool.
    """
    from prefect.schedules import Cron

    deployments = []
    for spec in deployment_specs(path):
        if spec.name == SHARD_WORKER:
            continue
        schedules = [
            Cron(s["cron"], timezone=s.get("timezone"), active=s.get("active", True))
            for s in spec.schedules if "cron" in s
        ]
        flow = load_entrypoint(spec.entrypoint)
        parameters = {"shard_workers": shard_workers} if shard_workers and spec.name in ("nightly", "backfill") else None
        deployments.append(flow.to_deployment(
            name=spec.name, description=spec.description, tags=list(spec.tags),
            schedules=schedules or None, concurrency_limit=spec.concurrency_limit, parameters=parameters,
        ))
    return deployments


def serve_deployments(limit: int = 1, shard_workers: int = 0) -> None:
    """Serve the deployments until interrupted; limit=1: one flow run at a time, the one-GPU rule locally."""
    from prefect import serve

    os.chdir(source_root())  # served runs load their entrypoints relative to it (prefect.yaml's paths)
    serve(*served_deployments(shard_workers=shard_workers), limit=limit)


def deploy_gpu_pool(slots: int, pool: str = GPU_POOL) -> None:
    """A process work pool of `slots` concurrent runs with the shard-worker deployment on it (from source_root())."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    (spec,) = [s for s in deployment_specs() if s.name == SHARD_WORKER]
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process", concurrency_limit=slots), overwrite=True)
    flow = load_entrypoint(spec.entrypoint)
    # from_source loads the entrypoint as a script, and Prefect's script loader leaves the script's
    # folder (flows/) first on sys.path for good: its modules would then shadow top-level names for
    # every later import in this process (flows/review.py once hid the old top-level review package).
    saved_path = list(sys.path)
    try:
        flow.from_source(source=str(source_root()), entrypoint=spec.entrypoint).deploy(
            name=spec.name, work_pool_name=pool, description=spec.description, tags=list(spec.tags),
            print_next_steps=False, build=False, push=False,
        )
    finally:
        sys.path[:] = saved_path
