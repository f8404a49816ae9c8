"""One night across two GPU slots: the nightly fans its shards out to two process workers of a real
`prefect server`, both make shards, and a child SIGKILLed mid-shard still leaves one committed,
verified night with nothing lost and nothing duplicated."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.settings import PREFECT_API_URL, temporary_settings

from catalog.sample import write_sample_catalog
from engine.tiny import build_tiny_pipeline
from flows import stack
from flows.nightly import nightly_campaign
from flows.params import NightlyParams
from flows.shard_worker import shard_worker
from provenance.verify import verify_run
from storage.bucket_audit import audit_bucket
from storage.manifest import read_manifests
from storage.settings import boto3_client

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
POOL = "gpu-pool-test"
VARIANTS = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("fleet-prefect")
    port = stack.free_port()
    started = stack.start_server(port, env={"PREFECT_HOME": str(home)}, log_path=home / "server.log")
    try:
        with temporary_settings({PREFECT_API_URL: started.api_url}):
            with get_client(sync_client=True) as client:
                client.create_work_pool(WorkPoolCreate(name=POOL, type="process", concurrency_limit=2), overwrite=True)
            shard_worker.from_source(source=str(REPO_ROOT), entrypoint="flows/shard_worker.py:shard_worker").deploy(
                name="shard-worker", work_pool_name=POOL, print_next_steps=False, build=False, push=False,
            )
            yield started
            stack.drain_client_workers()
    finally:
        stack.stop_server(started)


@pytest.fixture
def workers(server, s3_env, tmp_path):
    """Two process workers on the pool, one GPU slot each (--limit 1), with the test's S3 in their environment."""
    env = {**os.environ, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp_path / "worker-home"),
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1",
           "CONCEPTS_HOME": str(tmp_path / "concepts-home"), "CONCEPTS_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"}
    processes = [
        subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--limit", "1", "--name", f"slot-{i}"],
                         cwd=REPO_ROOT, env=env, stdout=open(tmp_path / f"worker-{i}.log", "wb"), stderr=subprocess.STDOUT,
                         start_new_session=True)
        for i in range(2)
    ]
    yield processes
    for process in processes:
        stack.stop_process_group(process)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(build_tiny_pipeline(tmp_path_factory.mktemp("tiny")))


def _params(model_dir, catalog, **overrides) -> NightlyParams:
    base = dict(catalog_uri=str(catalog), model_path=model_dir, variants_per_sku=VARIANTS, skus_per_shard=2, batch_size=4,
                shard_workers=2, shard_worker_deployment="shard_worker/shard-worker")
    return NightlyParams(**{**base, **overrides})


def _flow_run_children(worker: subprocess.Popen) -> list[int]:
    """Pids of the flow-run processes a process worker started (its direct children)."""
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def test_nightly_across_two_workers_commits_one_verified_manifest_made_by_both(server, workers, s3_env, model_dir, tmp_path):
    s3 = s3_env
    catalog = write_sample_catalog(tmp_path / "catalog.parquet", n=16, seed=5)
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        summary = nightly_campaign(_params(model_dir, catalog))
    assert summary["status"] == "committed" and summary["shards"] == 8
    rows = read_manifests(s3).to_pylist()
    assert len(rows) == len({row["asset_id"] for row in rows}) == 16 * VARIANTS
    makers = {row["flow_run_id"] for row in rows}
    assert len(makers) == 2, f"both shard workers should have made shards, got {makers}"
    assert len({row["worker_pid"] for row in rows}) == 2 and all(row["worker_host"] for row in rows)
    assert verify_run(s3, summary["run_id"]).ok
    audit = audit_bucket(s3)
    assert (audit.lost, audit.duplicated, audit.orphaned, audit.mismatched) == (0, 0, 0, 0)


def _signal_a_child_once_a_shard_is_staged(s3, worker: subprocess.Popen, sig: signal.Signals, hit: list) -> threading.Thread:
    """A thread that sends sig to worker's flow-run process as soon as a first shard is staged."""
    client = boto3_client(s3)

    def watch() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            staged = client.list_objects_v2(Bucket=s3.bucket, Prefix="staging/").get("KeyCount", 0)
            children = _flow_run_children(worker)
            if staged >= 1 and children:
                os.kill(children[0], sig)  # the flow-run process, mid-run: its worker survives
                hit.append(children[0])
                return
            time.sleep(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_child_killed_mid_shard_leaves_a_complete_night(server, workers, s3_env, model_dir, tmp_path):
    s3 = s3_env
    catalog = write_sample_catalog(tmp_path / "catalog.parquet", n=16, seed=6)
    killed: list[int] = []
    killer = _signal_a_child_once_a_shard_is_staged(s3, workers[0], signal.SIGKILL, killed)
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        summary = nightly_campaign(_params(model_dir, catalog))
    killer.join(timeout=5)
    assert killed, "the test never found a child to kill"
    assert summary["status"] == "committed" and summary["images"] == 16 * VARIANTS
    rows = read_manifests(s3).to_pylist()
    assert len(rows) == len({row["asset_id"] for row in rows}) == 16 * VARIANTS
    assert verify_run(s3, summary["run_id"]).ok
    audit = audit_bucket(s3)
    assert (audit.lost, audit.duplicated, audit.orphaned, audit.mismatched) == (0, 0, 0, 0)


def test_a_frozen_child_is_cancelled_and_its_shard_retried_elsewhere(server, workers, s3_env, model_dir, tmp_path):
    """SIGSTOP: the process neither crashes nor progresses (a hung driver). Before, the night hung forever."""
    s3 = s3_env
    catalog = write_sample_catalog(tmp_path / "catalog.parquet", n=12, seed=7)
    frozen: list[int] = []
    freezer = _signal_a_child_once_a_shard_is_staged(s3, workers[0], signal.SIGSTOP, frozen)
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            summary = nightly_campaign(_params(model_dir, catalog, shard_timeout_minutes=0.75))
    finally:
        freezer.join(timeout=5)
        for pid in frozen:  # never leave a stopped process behind
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    assert frozen, "the test never found a child to freeze"
    assert summary["status"] == "committed" and summary["images"] == 12 * VARIANTS
    rows = read_manifests(s3).to_pylist()
    assert len(rows) == len({row["asset_id"] for row in rows}) == 12 * VARIANTS
    assert verify_run(s3, summary["run_id"]).ok
    audit = audit_bucket(s3)
    assert (audit.lost, audit.duplicated, audit.orphaned, audit.mismatched) == (0, 0, 0, 0)
