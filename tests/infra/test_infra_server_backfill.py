"""The local stack as a person starts it (`ops stack up`: a real `prefect server` on loopback, the embedded S3,
served deployments): deployments register, a backfill started through the API with form parameters runs to
Completed and publishes, prefect.yaml deploys to its work pools, and Ctrl-C stops it all.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from catalog.sample import SAMPLE_CATALOG_PATH
from cli.ops_cmds import STACK_BUCKET
from engine.tiny import build_tiny_pipeline
from flows.stack import drain_client_workers, stop_process_group
from storage.local_s3 import find_running, local_s3_settings, stop_local_s3
from storage.settings import boto3_client

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
DATES = ("2026-10-01", "2026-10-02")
LIMIT = 3


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return str(build_tiny_pipeline(tmp_path_factory.mktemp("tiny-model")))


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tiny_model):
    """`catalog-concepts ops stack up` as a person runs it: prefect server, embedded S3, served deployments."""
    home = tmp_path_factory.mktemp("stack-home")
    log = home / "stack.log"
    env = {**os.environ, "CONCEPTS_HOME": str(home), "PREFECT_HOME": str(home / "prefect"),
           "PREFECT_RUNNER_POLL_FREQUENCY": "2", "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    for name in ("PREFECT_API_URL", "CONCEPTS_S3_ENDPOINT", "CONCEPTS_S3_BUCKET", "CONCEPTS_S3_BLOCK"):
        env.pop(name, None)
    started = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "cli.ops_cmds", "stack", "up"], cwd=REPO_ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        api_url = _wait_for_line(log, "export PREFECT_API_URL=", process).split("=", 1)[1].strip()
        print(f"\nstack up: prefect server healthy and S3 up after {time.monotonic() - started:.1f} s ({api_url})")
        s3 = local_s3_settings(find_running(home / "s3"), STACK_BUCKET)
        with temporary_settings({PREFECT_API_URL: api_url}):
            yield SimpleNamespace(process=process, log=log, api_url=api_url, s3=s3, started=started, home=home)
            drain_client_workers()
    finally:
        # Ctrl-C stops the server and the served deployments; the embedded S3 is stopped separately.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        finally:
            stop_process_group(process)
            local = find_running(home / "s3")
            if local is not None:
                stop_local_s3(local)
        assert "prefect server stopped" in log.read_text(), log.read_text()[-2000:]
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{api_url}/health", timeout=2)


def _wait_for_line(log: Path, marker: str, process: subprocess.Popen, timeout_s: float = 150) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if marker in line:
                return line
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"no {marker!r} in {timeout_s} s:\n{log.read_text()[-3000:]}")


def _child_env(home: Path, api_url: str) -> dict:
    return {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_HOME": str(home / "client"), "CONCEPTS_REPO_DIR": str(REPO_ROOT)}


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


def test_served_backfill_started_through_the_api_completes_and_publishes(stack, tiny_model):
    s3 = stack.s3
    # 1. The deployments of prefect.yaml register, the nightly one with its cron schedule and timezone.
    found = _wait_for_deployments({"nightly_campaign/nightly", "backfill/backfill", "review/review"}, stack.process, stack.log)
    (schedule,) = found["nightly_campaign/nightly"].schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Europe/Berlin")

    # 2. A backfill with form parameters, as the UI's "Custom run" sends them.
    form = {"start_date": DATES[0], "end_date": DATES[1], "limit": LIMIT, "variants_per_sku": 1,
            "model_path": tiny_model, "catalog_uri": str(SAMPLE_CATALOG_PATH), "max_bad_fraction": 0.25,
            "categories": [], "skus": []}
    run = run_deployment("backfill/backfill", parameters={"params": form}, timeout=300, poll_interval=2)
    print(f"stack up -> backfill Completed: {time.monotonic() - stack.started:.1f} s")
    assert run.state.is_completed(), f"{run.state}\n{stack.log.read_text()[-4000:]}"

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


def test_prefect_yaml_deploys_to_its_work_pools(stack):
    with get_client(sync_client=True) as client:
        for name, limit in (("gpu-pool", 1), ("cpu-pool", 2)):
            client.create_work_pool(WorkPoolCreate(name=name, type="process", concurrency_limit=limit), overwrite=True)
    result = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all", "--prefect-file", "infra/prefect.yaml"],
        cwd=REPO_ROOT, env=_child_env(stack.home, stack.api_url), capture_output=True, timeout=180,
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
