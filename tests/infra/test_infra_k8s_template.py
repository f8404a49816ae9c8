"""The Kubernetes base job template of the GPU pool: a real `prefect server` accepts it for a `kubernetes` pool and
the shard-worker deployment of prefect.yaml, and prefect-kubernetes renders a flow run's Job from it the way its
worker does (GPU limit, image, env, model volume, deadline, no secret values), valid against Kubernetes' schema.
"""

import asyncio
import copy
import json
import re
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import PrefectHTTPStatusError
from prefect_kubernetes.worker import KubernetesWorker, KubernetesWorkerJobConfiguration

from catalog_concepts.storage.settings import S3Settings
from flows.s3_blocks import save_s3_blocks

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "infra/k8s/gpu-pool.job-template.json"
DOCKERFILE = REPO_ROOT / "infra/k8s/Dockerfile"
IMAGE = "registry.example.com/catalog-concepts:0.1.0"
SECRET = {"endpoint_url": "https://s3.example.com", "bucket": "concepts", "access_key": "AKIAEXAMPLEKEY123",
          "secret_key": "wJalrXUtnFEMI-example-secret-value", "region": "eu-central-1"}
KUBERNETES_VERSION = "1.33.0"


@pytest.fixture(scope="module")
def pool(prefect_server):
    """A server with the GPU pool (the template), the S3 blocks and prefect.yaml's shard-worker deployment."""
    # prefect_server drains the events the block saves below queue before its server stops (tests/conftest.py).
    save_s3_blocks(S3Settings(**SECRET), bucket_block="concepts-s3", credentials_block="concepts-aws")
    spec = _prefect_yaml_deployment("shard-worker")
    job_variables = {**spec["work_pool"]["job_variables"], "image": IMAGE}
    with get_client(sync_client=True) as client:
        work_pool = client.create_work_pool(WorkPoolCreate(
            name=spec["work_pool"]["name"], type="kubernetes", base_job_template=json.loads(TEMPLATE.read_text())))
        flow_id = client.create_flow_from_name(spec["entrypoint"].rpartition(":")[2])
        deployment_id = client.create_deployment(
            flow_id=flow_id, name=spec["name"], entrypoint=spec["entrypoint"], tags=spec["tags"],
            work_pool_name=work_pool.name, work_queue_name=spec["work_pool"]["work_queue_name"],
            job_variables=job_variables)
    yield {"server": prefect_server, "work_pool": work_pool, "deployment_id": deployment_id}


def _prefect_yaml_deployment(name: str) -> dict:
    document = yaml.safe_load((REPO_ROOT / "infra/prefect.yaml").read_text())
    (spec,) = [d for d in document["deployments"] if d["name"] == name]
    return spec


def _render(deployment_id, job_variables: dict | None = None):
    """A flow run of the deployment, and its Job as KubernetesWorker builds it (resolve_for_flow_run)."""
    async def render():
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(deployment_id, job_variables=job_variables)
            work_pool = await client.read_work_pool(run.work_pool_name)
            configuration = await KubernetesWorkerJobConfiguration.resolve_for_flow_run(
                run, client=client, work_pool=work_pool, worker_name="gpu-worker-0")
            return run, configuration
    return asyncio.run(render())


def _validate(job: dict) -> None:
    """Strict Kubernetes schema check (unknown fields fail) of the Job, less one upstream quirk."""
    job = copy.deepcopy(job)
    pod = job["spec"]["template"]["spec"]
    # prefect-kubernetes requires parallelism/completions in the pod spec (its manifest check rejects a
    # template without them) though they are Job fields; the API server drops them with a warning.
    assert (pod.pop("parallelism"), pod.pop("completions")) == (1, 1)
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


def _env(container: dict) -> dict:
    names = [entry["name"] for entry in container["env"]]
    assert len(names) == len(set(names)), f"duplicate env names: {names}"
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in container["env"]}


def test_server_accepts_the_template_for_a_kubernetes_pool(pool):
    work_pool = pool["work_pool"]
    assert work_pool.type == "kubernetes"
    assert work_pool.base_job_template == json.loads(TEMPLATE.read_text())
    # Every variable of prefect-kubernetes' own default template is still there: the worker reads them all.
    default = KubernetesWorker.get_default_base_job_template()
    assert set(default["variables"]["properties"]) <= set(work_pool.base_job_template["variables"]["properties"])
    assert set(default["job_configuration"]) == set(work_pool.base_job_template["job_configuration"])


def test_flow_run_job_has_the_gpu_image_env_volume_and_deadline(pool):
    run, configuration = _render(pool["deployment_id"])
    job = configuration.job_manifest
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert job["kind"] == "Job" and job["metadata"]["namespace"] == "default"
    assert job["spec"]["backoffLimit"] == 0  # Prefect, not Kubernetes, decides about reruns
    assert job["spec"]["activeDeadlineSeconds"] == 28800
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    assert container["image"] == IMAGE
    assert container["args"] == ["prefect", "flow-run", "execute"]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 1, "cpu": "8", "memory": "48Gi"},
                                      "requests": {"nvidia.com/gpu": 1, "cpu": "8", "memory": "48Gi"}}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["volumes"] == [{"name": "models", "persistentVolumeClaim": {"claimName": "concepts-models", "readOnly": True}}]
    assert container["volumeMounts"] == [{"name": "models", "mountPath": "/models", "readOnly": True}]
    assert job["metadata"]["labels"]["prefect.io/flow-run-id"] == str(run.id)

    env = _env(container)
    assert env["CONCEPTS_S3_BLOCK"] == "concepts-s3"
    assert (env["HF_HUB_OFFLINE"], env["TRANSFORMERS_OFFLINE"], env["OMP_WAIT_POLICY"]) == ("1", "1", "PASSIVE")
    # Threads follow the container's CPU limit, not the node's core count (which sched_getaffinity reports).
    for name in ("OMP_NUM_THREADS", "CONCEPTS_TORCH_THREADS"):
        assert env[name] == {"resourceFieldRef": {"containerName": "prefect-job", "resource": "limits.cpu", "divisor": "1"}}
    assert env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"  # the zombie-run automation's clock
    # backoffLimit 0: on SIGTERM (eviction, deadline) the run goes back to the pool instead of Kubernetes retrying.
    assert env["PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR"] == "reschedule"
    assert env["PREFECT__FLOW_RUN_ID"] == str(run.id)
    assert env["PREFECT_API_URL"] == pool["server"].api_url

    # The S3 blocks' values never reach the Job; only the bucket block's name does.
    rendered = json.dumps(job)
    for field in ("access_key", "secret_key"):
        assert SECRET[field] not in rendered
    assert not [name for name in env if re.search(r"AWS_|SECRET|PASSWORD|API_KEY|ACCESS_KEY", name)]

    _validate(job)


def test_job_variables_override_per_run_and_bad_values_are_refused(pool):
    run, configuration = _render(pool["deployment_id"], {"gpu_count": 2, "active_deadline_seconds": 3600,
                                                         "node_selector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}})
    job = configuration.job_manifest
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert job["spec"]["activeDeadlineSeconds"] == 3600
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    _validate(job)

    with pytest.raises(PrefectHTTPStatusError, match="gpu_count"):
        _render(pool["deployment_id"], {"gpu_count": 0})


def test_dockerfile_pins_the_project_torch_and_installs_it_first():
    dockerfile = DOCKERFILE.read_text()
    (torch_pin,) = [d for d in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
                    if d.startswith("torch==")]
    assert f"ARG TORCH_VERSION={torch_pin.removeprefix('torch==')}" in dockerfile
    runs = [line for line in dockerfile.splitlines() if line.startswith("RUN ")]
    installs = [i for i, line in enumerate(runs) if "pip install" in line]
    assert runs[installs[0]].startswith('RUN pip install "torch==${TORCH_VERSION}+${TORCH_CUDA}"')
    assert runs[installs[1]].startswith("RUN pip install . ")
