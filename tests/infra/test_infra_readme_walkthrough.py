"""infra/README.md is a test: its shell blocks, run verbatim and in order by bash against a real `prefect server`
and the embedded S3, take an empty server to a completed deployed nightly: work pools with their concurrency
limits, the S3 blocks, the checked deploy, workers, a deployment run watched to Completed, the alert automations.

A block is left out only when the line before it says `<!-- not-run: <reason> -->`; the reasons are checked
here too. The shell's own trace (`set -x` with a timestamp in PS4) gives each documented step's time.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from catalog.sample import SAMPLE_CATALOG_PATH
from catalog_concepts.storage.settings import ENV_VARIABLES, boto3_client

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "infra" / "README.md"
PREFECT_YAML = REPO_ROOT / "infra" / "prefect.yaml"
WALKTHROUGH_TIMEOUT_S = 1500  # two flow processes importing torch and the model on a loaded 2-core box
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(.*?)\s*-->")
FENCE = re.compile(r"^```[\w-]*\n(.*?)^```\n", re.S | re.M)


def readme_blocks(text: str) -> list[tuple[str, str | None]]:
    """Every fenced block of the README in order: (its text, the not-run reason or None)."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = NOT_RUN.fullmatch(before.strip())
        blocks.append((match.group(1), reason.group(1) if reason else None))
    return blocks


def test_every_left_out_block_says_why_and_the_walkthrough_is_in_the_readme():
    blocks = readme_blocks(README.read_text())
    skipped = [(body, reason) for body, reason in blocks if reason is not None]
    assert all(reason for _, reason in skipped), skipped
    script = "\n".join(body for body, reason in blocks if reason is None)
    for step in ("prefect work-pool set-concurrency-limit gpu-pool", "catalog-concepts ops blocks create",
                 "catalog-concepts ops deploy", "prefect worker start --pool gpu-pool",
                 "prefect deployment run nightly_campaign/nightly"):
        assert step in script, step
    # prefect.yaml's header repeats the README's commands; each of its lines is one the test runs.
    header = [line.removeprefix("#").split("#")[0].strip() for line in PREFECT_YAML.read_text().splitlines()
              if re.match(r"#\s{3}\S", line)]
    run_lines = {line.split("#")[0].strip() for line in script.splitlines()}
    assert header and [line for line in header if line not in run_lines] == []


@pytest.fixture(scope="module")
def server(prefect_server):
    return prefect_server


def _step_times(trace: str) -> list[tuple[float | None, str]]:
    """(seconds, command) for each command bash traced, in the order they started: the time until the shell's
    next command started; None for what ran in a background subshell (the README's workers, started with `&`)."""
    stamps = sorted((float(m.group(1)), int(m.group(2)), m.group(3))
                    for m in re.finditer(r"^\+ STEP (\d+\.\d+) (\d+) (.*)$", trace, re.M))
    shell_pid = stamps[0][1] if stamps else None
    foreground = [at for at, pid, _ in stamps if pid == shell_pid]
    times: list[tuple[float | None, str]] = []
    for at, pid, command in stamps:
        later = [t for t in foreground if t > at]
        if pid != shell_pid:
            times.append((None, command))
        elif later:
            times.append((later[0] - at, command))
    return times


def test_readme_walkthrough_takes_an_empty_server_to_a_completed_nightly(server, s3, tmp_path):
    blocks = readme_blocks(README.read_text())
    # bash ignores PS4 from the environment when run as root: the trace's timestamp is set in the script.
    script = "\n".join(["PS4='+ STEP ${EPOCHREALTIME} ${BASHPID} '", *(body for body, reason in blocks if reason is None),
                        ": walkthrough done"])
    # The catalog a night processes, where production keeps it: in S3.
    catalog_key = "catalogs/products.parquet"
    boto3_client(s3).put_object(Bucket=s3.bucket, Key=catalog_key, Body=SAMPLE_CATALOG_PATH.read_bytes())
    # What the README's not-run "your values" block exports, for this server and this bucket.
    env = {k: v for k, v in os.environ.items() if k not in (*ENV_VARIABLES, "CONCEPTS_S3_BLOCK", "CONCEPTS_REPO_DIR")}
    env.update({
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp_path / "client"),
        "CONCEPTS_S3_ENDPOINT": s3.endpoint_url, "CONCEPTS_S3_BUCKET": s3.bucket,
        "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key, "GPUS": "1",
        "CONCEPTS_CATALOG_URI": f"s3://{s3.bucket}/{catalog_key}",
        # The machine's own settings, not the README's commands: state in the test's folder, a worker
        # that polls every 2 s instead of 10, one torch thread per flow process on a shared 2-core box.
        "CONCEPTS_HOME": str(tmp_path / "home"), "PREFECT_WORKER_QUERY_SECONDS": "2",
        "OMP_NUM_THREADS": "1", "CONCEPTS_TORCH_THREADS": "1",
    })
    out = tmp_path / "walkthrough.log"
    started = time.monotonic()
    with open(out, "wb") as log:
        shell = subprocess.Popen(["bash", "-euo", "pipefail", "-x", "-c", script], cwd=REPO_ROOT, env=env,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = shell.wait(timeout=WALKTHROUGH_TIMEOUT_S)
        finally:
            # The workers the README started with `&` live on in the shell's process group.
            for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
                try:
                    os.killpg(shell.pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait_s
                while time.monotonic() < deadline and _group_alive(shell.pid):
                    time.sleep(0.5)
    output = out.read_text(errors="replace")
    print(f"\nwalkthrough: {time.monotonic() - started:.1f} s")
    for seconds, command in _step_times(output):
        print(f"  {'background' if seconds is None else f'{seconds:7.1f} s':>10}  {command}")
    assert code == 0, output[-6000:]
    assert "Flow run finished successfully in 'Completed'" in output, output[-3000:]

    # 1. The pools carry their limits; prefect.yaml deployed to them, naming the block, never a key.
    with get_client(sync_client=True) as client:
        assert client.read_work_pool("gpu-pool").concurrency_limit == 1
        assert client.read_work_pool("cpu-pool").concurrency_limit == 2
        deployed = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
        runs = client.read_flow_runs()
        # The nightly's schedule has added runs for the coming nights; the one the README started ran.
        (nightly_run,) = [r for r in runs if r.deployment_id == deployed["nightly_campaign/nightly"].id
                          and not r.state.is_scheduled()]
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[nightly_run.id])))
        all_logs = client.read_logs()
    assert deployed["nightly_campaign/nightly"].work_pool_name == "gpu-pool"
    assert deployed["backfill/backfill"].work_pool_name == "gpu-pool"
    assert deployed["review/review"].work_pool_name == "cpu-pool"
    assert deployed["nightly_campaign/nightly"].pull_steps[0]["prefect.deployments.steps.set_working_directory"] == {"directory": str(REPO_ROOT)}
    assert deployed["nightly_campaign/nightly"].job_variables["env"]["CONCEPTS_S3_BLOCK"] == "concepts-s3"
    # The flow-level retry policy (infra/README.md) reaches the nightly's runs, and only theirs.
    assert deployed["nightly_campaign/nightly"].job_variables["env"]["PREFECT_FLOWS_DEFAULT_RETRIES"] == "1"
    assert "PREFECT_FLOWS_DEFAULT_RETRIES" not in deployed["backfill/backfill"].job_variables["env"]

    # 2. The run completed on the GPU pool's worker and committed its night to the block's bucket.
    assert nightly_run.state.is_completed() and nightly_run.work_pool_name == "gpu-pool", nightly_run.state
    manifests = boto3_client(s3).list_objects_v2(Bucket=s3.bucket, Prefix="manifests/").get("KeyCount", 0)
    assert manifests == 1
    assert logs, "the run sent no logs to the API"

    # 3. The secret key is nowhere the server keeps: not in logs, deployments or run parameters.
    kept = json.dumps([log.message for log in all_logs]) + json.dumps(
        [d.model_dump(mode="json") for d in deployed.values()]) + json.dumps([r.parameters for r in runs])
    assert s3.secret_key not in kept
    assert s3.secret_key not in output


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
