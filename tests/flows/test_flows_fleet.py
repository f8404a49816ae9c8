"""One night across two GPU slots: the nightly fans its shards out to two process workers of a real
`prefect server`, both make shards, and a child SIGKILLed mid-shard still leaves one committed,
verified night with nothing lost and nothing duplicated."""

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from prefect.settings import PREFECT_API_URL, temporary_settings

from catalog.sample import write_sample_catalog
from catalog_concepts.local_services import prefect_server
from catalog_concepts.provenance.verify import verify_run
from catalog_concepts.storage.bucket_audit import audit_bucket
from catalog_concepts.storage.manifest import read_manifests
from catalog_concepts.storage.settings import boto3_client
from flows import deployments
from flows.nightly import nightly_campaign
from flows.prefect_client import drain_client_workers

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
POOL = "gpu-pool-test"
VARIANTS = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("fleet-prefect")
    port = prefect_server.free_port()
    started = prefect_server.start_server(port, env={"PREFECT_HOME": str(home)}, log_path=home / "server.log")
    try:
        with temporary_settings({PREFECT_API_URL: started.api_url}):
            deployments.deploy_gpu_pool(2, pool=POOL)  # what `ops stack up --workers 2` does
            yield started
            drain_client_workers()
    finally:
        prefect_server.stop_server(started)


@pytest.fixture
def workers(server, s3_env, tmp_path):
    """Two process workers on the pool, one GPU slot each (--limit 1), with the test's S3 in their environment."""
    env = {"PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp_path / "worker-home"),
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1",
           "CONCEPTS_HOME": str(tmp_path / "concepts-home")}
    processes = prefect_server.start_workers(2, env, tmp_path, pool=POOL)
    yield processes
    prefect_server.stop_process_groups(processes)


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return str(tiny_model_dir)


def _params(model_dir, catalog, **overrides) -> dict:
    base = dict(catalog_uri=str(catalog), model=model_dir, variants_per_sku=VARIANTS, skus_per_shard=2, batch_size=4,
                shard_workers=2, shard_worker_deployment="shard_worker/shard-worker")
    return {**base, **overrides}


def _flow_run_children(worker: subprocess.Popen) -> list[int]:
    """Pids of the flow-run processes a process worker started (its direct children); [] once it is gone."""
    try:
        return [int(pid) for pid in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()]
    except OSError:
        return []


def test_nightly_across_two_workers_commits_one_verified_manifest_made_by_both(server, workers, s3_env, model_dir, tmp_path):
    s3 = s3_env
    catalog = write_sample_catalog(tmp_path / "catalog.parquet", n=16, seed=5)
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        summary = nightly_campaign(**_params(model_dir, catalog))
    assert summary["status"] == "committed" and summary["shards"] == 8
    rows = read_manifests(s3).to_pylist()
    assert len(rows) == len({row["asset_id"] for row in rows}) == 16 * VARIANTS
    makers = {row["flow_run_id"] for row in rows}
    assert len(makers) == 2, f"both shard workers should have made shards, got {makers}"
    assert len({row["worker_pid"] for row in rows}) == 2 and all(row["worker_host"] for row in rows)
    assert verify_run(s3, summary["run_id"]).ok
    audit = audit_bucket(s3)
    assert (audit.lost, audit.duplicated, audit.orphaned, audit.mismatched) == (0, 0, 0, 0)


def _signal_a_child_holding_a_shard(s3, workers: list[subprocess.Popen], sig: signal.Signals, hit: list) -> threading.Thread:
    """A thread that sends sig to the first flow-run process seen holding a shard lease: mid-shard by construction."""
    client = boto3_client(s3)

    def watch() -> None:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and not hit:
            children = {pid for worker in workers for pid in _flow_run_children(worker)}
            for obj in client.list_objects_v2(Bucket=s3.bucket, Prefix="leases/").get("Contents", []):
                if "/shard-" not in obj["Key"]:
                    continue
                try:
                    holder = json.loads(client.get_object(Bucket=s3.bucket, Key=obj["Key"])["Body"].read())["pid"]
                except ClientError:
                    continue  # released between the listing and the read
                if holder in children:
                    os.kill(holder, sig)  # the flow-run process, mid-shard: its worker survives
                    hit.append(holder)
                    return
            time.sleep(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_child_killed_mid_shard_leaves_a_complete_night(server, workers, s3_env, model_dir, tmp_path):
    s3 = s3_env
    catalog = write_sample_catalog(tmp_path / "catalog.parquet", n=16, seed=6)
    killed: list[int] = []
    killer = _signal_a_child_holding_a_shard(s3, workers, signal.SIGKILL, killed)
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        summary = nightly_campaign(**_params(model_dir, catalog))
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
    freezer = _signal_a_child_holding_a_shard(s3, workers, signal.SIGSTOP, frozen)
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            summary = nightly_campaign(**_params(model_dir, catalog, shard_timeout_minutes=1.5))
    finally:
        freezer.join(timeout=5)
        for pid in frozen:  # never leave a stopped process behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert frozen, "the test never found a child to freeze"
    assert summary["status"] == "committed" and summary["images"] == 12 * VARIANTS
    rows = read_manifests(s3).to_pylist()
    assert len(rows) == len({row["asset_id"] for row in rows}) == 12 * VARIANTS
    assert verify_run(s3, summary["run_id"]).ok
    audit = audit_bucket(s3)
    assert (audit.lost, audit.duplicated, audit.orphaned, audit.mismatched) == (0, 0, 0, 0)
