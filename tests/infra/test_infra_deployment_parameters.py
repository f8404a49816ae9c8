"""Deployments carry production configuration: Prefect Variables set the catalog, bucket and model of
prefect.yaml's nightly and backfill at deploy time, and a deployed nightly whose catalog was never set
refuses, on its worker, to run on the shipped sample (a real `prefect server`, `prefect deploy`, a process worker).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from catalog_concepts.local_services.prefect_server import stop_process_group
from flows.nightly import refuse_sample_catalog
from flows.resources import SAMPLE_CATALOG

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGURED = {"concepts_catalog_uri": "s3://concepts-prod/catalogs/products.parquet", "concepts_bucket": "concepts-prod",
              "concepts_model": "shipped"}


@pytest.mark.parametrize("uri", ["", str(SAMPLE_CATALOG), os.path.relpath(SAMPLE_CATALOG)])
def test_the_sample_catalog_is_refused_unless_asked_for(uri):
    catalog = uri or str(SAMPLE_CATALOG)  # the flow's default for an empty catalog_uri
    with pytest.raises(ValueError, match="the catalog is the shipped 58-row sample .* set catalog_uri .* or set allow_sample_catalog"):
        refuse_sample_catalog(catalog, allowed=False)
    refuse_sample_catalog(catalog, allowed=True)
    refuse_sample_catalog("s3://concepts-prod/catalogs/products.parquet", allowed=False)


@pytest.fixture(scope="module")
def server(prefect_server):
    return prefect_server


def _prefect(server, tmp_path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp_path / "client"),
           "CONCEPTS_REPO_DIR": str(REPO_ROOT), "PREFECT_WORKER_QUERY_SECONDS": "2"}
    return subprocess.run([sys.executable, "-m", "prefect", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _deployments() -> dict:
    with get_client(sync_client=True) as client:
        return {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}


@pytest.mark.slow
def test_variables_set_the_deployments_and_an_unconfigured_nightly_refuses_the_sample(server, tmp_path):
    # 1. The pools prefect.yaml names, the variables, the deploy (as infra/README.md writes them).
    for pool in ("gpu-pool", "cpu-pool"):
        assert _prefect(server, tmp_path, "work-pool", "create", pool, "--type", "process", "--overwrite").returncode == 0
    for name, value in CONFIGURED.items():
        result = _prefect(server, tmp_path, "variable", "set", name, value, "--overwrite")
        assert result.returncode == 0, result.stdout + result.stderr
    result = _prefect(server, tmp_path, "--no-prompt", "deploy", "--all", "--prefect-file", "infra/prefect.yaml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    # 2. The nightly and the backfill carry the values; their forms keep the registry's drop-down.
    deployed = _deployments()
    production = {"catalog_uri": CONFIGURED["concepts_catalog_uri"], "bucket": "concepts-prod", "model": "shipped",
                  "allow_sample_catalog": False}
    assert deployed["nightly_campaign/nightly"].parameters == production
    assert deployed["backfill/backfill"].parameters == production
    assert deployed["review/review"].parameters == {}
    assert deployed["backfill/backfill"].parameter_openapi_schema["properties"]["model"]["enum"] == ["shipped"]

    # 3. Without the catalog variable the deploy writes an empty catalog: the shipped sample.
    assert _prefect(server, tmp_path, "variable", "unset", "concepts_catalog_uri").returncode == 0
    result = _prefect(server, tmp_path, "--no-prompt", "deploy", "--name", "nightly", "--prefect-file", "infra/prefect.yaml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert _deployments()["nightly_campaign/nightly"].parameters["catalog_uri"] == ""

    # 4. A worker picks the nightly up and the run fails before reading anything, saying what to set.
    env = {**os.environ, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp_path / "worker"),
           "PREFECT_WORKER_QUERY_SECONDS": "2", "OMP_NUM_THREADS": "1"}
    env.pop("CONCEPTS_S3_BLOCK", None)
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", "gpu-pool", "--limit", "1"],
                                  cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = time.monotonic()
        result = _prefect(server, tmp_path, "deployment", "run", "nightly_campaign/nightly")
        assert result.returncode == 0, result.stdout + result.stderr
        # Not --watch: the nightly's retry policy (one rerun after 10 minutes) keeps a failed first
        # attempt waiting as AwaitingRetry; the refusal is the first attempt's end.
        with get_client(sync_client=True) as client:
            deadline = time.monotonic() + 420
            while True:
                # The nightly's schedule made runs for the coming nights too; this one was started by hand.
                (run,) = [r for r in client.read_flow_runs() if not r.auto_scheduled]
                logs = " ".join(entry.message for entry in client.read_logs())
                if "the catalog is the shipped 58-row sample" in logs and run.state.name in ("AwaitingRetry", "Failed"):
                    break
                assert time.monotonic() < deadline, f"{run.state}\n{logs[-3000:]}\n{(tmp_path / 'worker.log').read_text()[-3000:]}"
                time.sleep(2)
        print(f"\nrefused nightly: {run.state.name} {time.monotonic() - started:.1f} s after `deployment run`")
        assert "concepts_catalog_uri" in logs
        assert run.parameters["catalog_uri"] == "" and run.parameters["allow_sample_catalog"] is False
    finally:
        stop_process_group(worker)
