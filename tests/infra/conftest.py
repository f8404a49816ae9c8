"""The local stack as a person starts it, shared by the infra tests that drive it: `catalog-concepts ops stack up`
(a real `prefect server` on loopback, the embedded S3, served deployments, optionally a GPU pool with workers)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from catalog_concepts.cli.ops_cmds import STACK_BUCKET
from catalog_concepts.local_services.prefect_server import stop_process_group
from catalog_concepts.local_services.s3_server import find_running, local_s3_settings, stop_local_s3
from catalog_concepts.storage.settings import boto3_client
from flows.prefect_client import drain_client_workers

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack_up():
    """`with stack_up(home, tiny_model, *args) as stack:` runs `ops stack up *args` until the block ends, then Ctrl-C.

    The platform's registry is the shipped one plus the tiny model, offered in the forms as "tiny" (fast on a
    CPU). `stack` has process, log, api_url, s3, started, home, wait_for_line(marker) and keys(prefix).
    """
    return _stack_up


@contextlib.contextmanager
def _stack_up(home: Path, tiny_model: Path | str, *args: str) -> Iterator[SimpleNamespace]:
    log = home / "stack.log"
    registry = home / "registry.yaml"
    registry.write_text((REPO_ROOT / "infra" / "registry.yaml").read_text().replace("models:\n", f"models:\n  tiny: {tiny_model}\n"))
    env = {**os.environ, "CONCEPTS_HOME": str(home), "PREFECT_HOME": str(home / "prefect"), "CONCEPTS_REGISTRY": str(registry),
           "PREFECT_RUNNER_POLL_FREQUENCY": "2", "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    for name in ("PREFECT_API_URL", "CONCEPTS_S3_ENDPOINT", "CONCEPTS_S3_BUCKET", "CONCEPTS_S3_BLOCK"):
        env.pop(name, None)
    started = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "catalog_concepts.cli.ops_cmds", "stack", "up", *args], cwd=REPO_ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        api_url = wait_for_line(log, "export PREFECT_API_URL=", process).split("=", 1)[1].strip()
        print(f"\nstack up: prefect server healthy and S3 up after {time.monotonic() - started:.1f} s ({api_url})")
        s3 = local_s3_settings(find_running(home / "s3"), STACK_BUCKET)
        with temporary_settings({PREFECT_API_URL: api_url}):
            yield SimpleNamespace(process=process, log=log, api_url=api_url, s3=s3, started=started, home=home,
                                  wait_for_line=lambda marker: wait_for_line(log, marker, process),
                                  keys=lambda prefix: keys(s3, prefix))
            drain_client_workers()
    finally:
        # Ctrl-C stops the server, the served deployments and the workers; the embedded S3 is stopped separately.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)
        finally:
            stop_process_group(process)
            local = find_running(home / "s3")
            if local is not None:
                stop_local_s3(local)
    assert "prefect server stopped" in log.read_text(), log.read_text()[-2000:]
    # Only this stack's workers (they inherit its CONCEPTS_HOME): other suites on the machine may run gpu-pool workers.
    assert not processes_running("prefect worker start --pool gpu-pool", environ_part=f"CONCEPTS_HOME={home}"), \
        "Ctrl-C left GPU-pool workers running"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{api_url}/health", timeout=2)


def wait_for_line(log: Path, marker: str, process: subprocess.Popen, timeout_s: float = 300) -> str:
    """The first line of log containing marker; fails with the log's tail if the process ends or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if marker in line:
                return line
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"no {marker!r} in {timeout_s} s:\n{log.read_text()[-3000:]}")


def keys(s3, prefix: str) -> list[str]:
    """Every key under prefix, sorted."""
    pages = boto3_client(s3).get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def processes_running(command_part: str, environ_part: str = "") -> list[int]:
    """Pids of live processes whose command line contains command_part (and whose environment, environ_part)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or command_part not in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                continue
            if environ_part and environ_part.encode() not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            found.append(int(entry.name))
        except OSError:
            continue
    return found
