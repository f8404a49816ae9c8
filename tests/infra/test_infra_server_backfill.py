"""Against a real `prefect server` on loopback: deployments register, a backfill started through the API
with form parameters runs to Completed in the served process and publishes, and prefect.yaml deploys.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from catalog.sample import SAMPLE_CATALOG_PATH
from engine.tiny import build_tiny_pipeline
from flows.stack import drain_client_workers, free_port, start_server, stop_process_group, stop_server
from storage.settings import boto3_client

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
DATES = ("2026-10-01", "2026-10-02")
LIMIT = 3


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return str(build_tiny_pipeline(tmp_path_factory.mktemp("tiny-model")))


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory, tiny_model):
    """A real `prefect server start` on a free loopback port with its own database."""
    home = tmp_path_factory.mktemp("prefect-server-home")
    env = {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_URL": ""}
    started = time.monotonic()
    server = start_server(free_port(), env=env, log_path=home / "server.log")
    print(f"\nprefect server healthy after {time.monotonic() - started:.1f} s at {server.api_url}")
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server, started, home
    finally:
        drain_client_workers()
        stop_server(server)


def _child_env(server, home: Path, s3, tmp_path: Path) -> dict:
    return {
        **os.environ,
        "PREFECT_API_URL": server.api_url,
        "PREFECT_HOME": str(home / "client"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "CONCEPTS_HOME": str(tmp_path / "concepts-home"),
        "CONCEPTS_S3_ENDPOINT": s3.endpoint_url,
        "CONCEPTS_S3_BUCKET": s3.bucket,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "OMP_WAIT_POLICY": "PASSIVE",
        "OMP_NUM_THREADS": "1",
        "CONCEPTS_REPO_DIR": str(REPO_ROOT),
    }


def _keys(s3, prefix: str) -> list[str]:
    pages = boto3_client(s3).get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def _wait_for_deployments(names: set[str], process: subprocess.Popen, log: Path, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            found = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
            if names <= set(found):
                return found
            time.sleep(1)
    raise AssertionError(f"deployments {names} not registered in {timeout_s} s:\n{log.read_text()[-3000:]}")


def test_served_backfill_started_through_the_api_completes_and_publishes(prefect_server, s3, tiny_model, tmp_path):
    server, started, home = prefect_server
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serving = subprocess.Popen([sys.executable, "-m", "cli.ops_cmds", "serve"], cwd=REPO_ROOT,
                                   env=_child_env(server, home, s3, tmp_path), stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        # 1. The deployments of prefect.yaml register, the nightly one with its cron schedule and timezone.
        found = _wait_for_deployments({"nightly_campaign/nightly", "backfill/backfill", "review/review"}, serving, log)
        (schedule,) = found["nightly_campaign/nightly"].schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Europe/Berlin")

        # 2. A backfill with form parameters, as the UI's "Custom run" sends them.
        form = {"start_date": DATES[0], "end_date": DATES[1], "limit": LIMIT, "variants_per_sku": 1,
                "model_path": tiny_model, "catalog_uri": str(SAMPLE_CATALOG_PATH), "max_bad_fraction": 0.25,
                "categories": [], "skus": []}
        run = run_deployment("backfill/backfill", parameters={"params": form}, timeout=300, poll_interval=2)
        elapsed = time.monotonic() - started
        print(f"prefect server start -> backfill Completed: {elapsed:.1f} s")
        assert run.state.is_completed(), f"{run.state}\n{log.read_text()[-4000:]}"
    finally:
        stop_process_group(serving)

    # 3. It published: one manifest, contact sheet and set of images per date.
    manifests = _keys(s3, "manifests/")
    assert [m.split("/")[1] for m in manifests] == [f"run_date={d}" for d in DATES]
    reports = _keys(s3, "reports/")
    assert [r.split("/")[1] for r in reports] == [f"run_date={d}" for d in DATES]
    images = [k for p in ("images/", "review/", "rejected/") for k in _keys(s3, p)]
    assert len(images) == len(DATES) * LIMIT

    # 4. Each date's run left its artifacts: a decision table and a link to its contact sheet.
    with get_client(sync_client=True) as client:
        links = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["run-contact-sheet"])))
        tables = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["run-decisions"])))
    assert len(links) == len(tables) == len(DATES)
    assert all("X-Amz-Expires=900" in a.data or "Expires=" in a.data for a in links)


def test_prefect_yaml_deploys_to_its_work_pools(prefect_server, tmp_path, s3):
    server, _, home = prefect_server
    with get_client(sync_client=True) as client:
        for name, limit in (("gpu-pool", 1), ("cpu-pool", 2)):
            client.create_work_pool(WorkPoolCreate(name=name, type="process", concurrency_limit=limit), overwrite=True)
    result = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all", "--prefect-file", "infra/prefect.yaml"],
        cwd=REPO_ROOT, env=_child_env(server, home, s3, tmp_path), capture_output=True, timeout=180,
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode()[-4000:]
    with get_client(sync_client=True) as client:
        deployed = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
        assert client.read_work_pool("gpu-pool").concurrency_limit == 1
    assert deployed["nightly_campaign/nightly"].work_pool_name == "gpu-pool"
    assert deployed["backfill/backfill"].work_pool_name == "gpu-pool"
    assert deployed["review/review"].work_pool_name == "cpu-pool"
    assert deployed["nightly_campaign/nightly"].entrypoint == "flows/nightly.py:nightly_campaign"
    assert deployed["nightly_campaign/nightly"].job_variables["env"]["CONCEPTS_S3_BLOCK"] == "concepts-s3"
