"""The production configuration commands against a real `prefect server` and the embedded S3:

- `ops deploy` refuses, in one line and before deploying anything, what would fail on a worker later:
  CONCEPTS_REPO_DIR unset or not a checkout, no S3 block, Prefect Variables prefect.yaml uses not set, no work pools;
- `ops blocks create` saves prefect-aws AWS Credentials + S3 Bucket blocks from the environment, prints
  their names and never the secret, changes nothing when run again, replaces other values only with
  --overwrite; flows resolve S3 from the blocks alone (no S3 variables) and read and write the bucket;
- then `ops deploy` deploys prefect.yaml: the pull step holds the checkout's path, deployments carry the
  block's name and never a key.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import VariableCreate, WorkPoolCreate
from prefect_aws import S3Bucket

from catalog_concepts.storage.settings import ENV_VARIABLES, boto3_client
from flows.resources import s3_settings

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "catalog-concepts")
POOLS = ("gpu-pool", "cpu-pool")


@pytest.fixture(scope="module")
def server(prefect_server):
    return prefect_server


def _env(server, tmp_path: Path, **values: str) -> dict:
    """A shell's environment pointing at the server, with no S3 variables and no block name unless given."""
    env = {k: v for k, v in os.environ.items() if k not in (*ENV_VARIABLES, "CONCEPTS_S3_BLOCK", "CONCEPTS_REPO_DIR")}
    return {**env, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp_path / "client"),
            "CONCEPTS_HOME": str(tmp_path / "home"), **values}


def _s3_values(s3) -> dict:
    return {"CONCEPTS_S3_ENDPOINT": s3.endpoint_url, "CONCEPTS_S3_BUCKET": s3.bucket,
            "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}


def _cli(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_deploy_without_configuration_fails_at_deploy_time_in_one_line(server, tmp_path):
    # 1. Nothing configured: no CONCEPTS_REPO_DIR, no block, no pools.
    result = _cli(_env(server, tmp_path), "ops", "deploy")
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: nothing deployed: CONCEPTS_REPO_DIR is not set: export it before deploying"), line
    assert "no S3 Bucket block named 'concepts-s3'" in line and "ops blocks create" in line, line
    assert "work pool 'cpu-pool' does not exist" in line and "work pool 'gpu-pool' does not exist" in line, line
    assert "Prefect Variable 'concepts_model' is not set: `prefect variable set concepts_model <value>`" in line, line

    # 2. A CONCEPTS_REPO_DIR that is not a checkout is refused too.
    result = _cli(_env(server, tmp_path, CONCEPTS_REPO_DIR=str(tmp_path)), "ops", "deploy")
    assert result.returncode == 1 and f"CONCEPTS_REPO_DIR={tmp_path} is not a checkout" in result.stderr, result.stderr

    # 3. Nothing reached the server.
    with get_client(sync_client=True) as client:
        assert client.read_deployments() == []


def test_blocks_create_saves_blocks_flows_read_s3_from(server, s3, tmp_path, monkeypatch):
    env = _env(server, tmp_path, **_s3_values(s3))

    # 1. One command saves both blocks and prints their names, never the key.
    result = _cli(env, "ops", "blocks", "create")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "saved: S3 Bucket block 'concepts-s3'" in result.stdout and "AWS Credentials block 'concepts-aws'" in result.stdout
    assert s3.secret_key not in result.stdout + result.stderr

    # 2. Again with the same values: nothing changes. Other values are refused without --overwrite.
    again = _cli(env, "ops", "blocks", "create")
    assert again.returncode == 0 and again.stdout.startswith("unchanged: "), again.stdout + again.stderr
    other = _cli({**env, "CONCEPTS_S3_BUCKET": "another-bucket"}, "ops", "blocks", "create")
    assert other.returncode == 1 and "pass --overwrite to replace them" in other.stderr, other.stdout + other.stderr
    replaced = _cli({**env, "CONCEPTS_S3_BUCKET": "another-bucket"}, "ops", "blocks", "create", "--overwrite")
    assert replaced.returncode == 0 and "bucket another-bucket" in replaced.stdout, replaced.stdout + replaced.stderr
    assert _cli(env, "ops", "blocks", "create", "--overwrite").returncode == 0

    # 3. The API keeps the secret masked for anyone reading the block without asking for secrets.
    with get_client(sync_client=True) as client:
        stored = client.read_block_document_by_name("concepts-aws", "aws-credentials", include_secrets=False)
        bucket_block = client.read_block_document_by_name("concepts-s3", "s3-bucket", include_secrets=False)
    assert s3.secret_key not in json.dumps(stored.data, default=str)
    # The bucket block references the named credentials block rather than holding a copy of the keys.
    assert bucket_block.block_document_references["credentials"]["block_document"]["name"] == "concepts-aws"
    assert s3.secret_key not in json.dumps(bucket_block.data, default=str)

    # 4. A flow's resolver, with the block's name as the only S3 configuration, reads and writes the bucket.
    for name in ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONCEPTS_S3_BLOCK", "concepts-s3")
    settings = s3_settings()
    assert settings == s3
    key = f"checks/{uuid.uuid4().hex}.txt"
    boto3_client(settings).put_object(Bucket=settings.bucket, Key=key, Body=b"from the block")
    assert boto3_client(s3).get_object(Bucket=s3.bucket, Key=key)["Body"].read() == b"from the block"
    # The block also works on its own (path-style addressing on a custom endpoint).
    assert S3Bucket.load("concepts-s3").read_path(key) == b"from the block"

    # 5. A block name that does not exist is one sentence naming the command that creates it.
    monkeypatch.setenv("CONCEPTS_S3_BLOCK", "concepts-s3-staging")
    with pytest.raises(ValueError, match="no S3 Bucket block named 'concepts-s3-staging'.*ops blocks create --bucket-block concepts-s3-staging"):
        s3_settings()


def test_deploy_with_configuration_registers_prefect_yaml(server, s3, tmp_path):
    env = _env(server, tmp_path, **_s3_values(s3))
    assert _cli(env, "ops", "blocks", "create", "--overwrite").returncode == 0
    with get_client(sync_client=True) as client:
        for pool in POOLS:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"), overwrite=True)
        for name, value in {"concepts_catalog_uri": f"s3://{s3.bucket}/catalogs/products.parquet",
                            "concepts_bucket": s3.bucket, "concepts_model": "shipped"}.items():
            client.create_variable(VariableCreate(name=name, value=value))

    result = _cli({**env, "CONCEPTS_REPO_DIR": str(REPO_ROOT)}, "ops", "deploy", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    with get_client(sync_client=True) as client:
        deployed = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
    assert {"nightly_campaign/nightly", "backfill/backfill", "review/review", "shard_worker/shard-worker"} <= set(deployed)
    nightly = deployed["nightly_campaign/nightly"]
    assert nightly.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}]
    assert nightly.job_variables["env"]["CONCEPTS_S3_BLOCK"] == "concepts-s3"
    everything = json.dumps([d.model_dump(mode="json") for d in deployed.values()])
    assert s3.secret_key not in everything and s3.access_key not in everything
