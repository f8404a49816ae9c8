"""A loopback `prefect server` and process workers for the local stack and tests: start, wait for health, stop.

Plain processes only (nothing here imports prefect): the deployments they serve are flows/deployments.py's.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from catalog_concepts.assets import source_root

HOST = "127.0.0.1"
HEALTH_TIMEOUT_S = 300.0  # ~18 s idle; 81-93 s measured at load 6-12 on the 2-core CI box
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class LocalServer:
    """A `prefect server` process on loopback and its API URL."""

    process: subprocess.Popen
    api_url: str
    ui_url: str


def worker_threads(workers: int, cpus: int | None = None) -> int:
    """Torch threads per worker when `workers` share this machine's CPUs (at least 1)."""
    cpus = cpus or len(os.sched_getaffinity(0))
    return max(1, cpus // workers)


def start_workers(count: int, env: dict, log_dir: Path, pool: str) -> list[subprocess.Popen]:
    """`count` process workers on the pool, one slot each (`--limit 1`: one generation per GPU), CPUs split between them.

    They run from source_root(), where the pool's deployments find their entrypoints.
    """
    threads = str(worker_threads(count))
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = []
    for index in range(count):
        worker_env = {**os.environ, **env, "CONCEPTS_TORCH_THREADS": threads, "OMP_NUM_THREADS": threads}
        with open(log_dir / f"worker-{index}.log", "ab") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--limit", "1",
                 "--name", f"{pool}-slot-{index}"],
                cwd=source_root(), env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ))
    return processes


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(port: int, env: dict | None = None, log_path: Path | None = None) -> LocalServer:
    """Start `prefect server start` on 127.0.0.1:port and wait until /api/health answers."""
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)]
    api_url, ui_url = f"http://{HOST}:{port}/api", f"http://{HOST}:{port}"
    # The child keeps its own descriptor of the log; ours is closed as soon as it has started.
    with open(log_path, "ab") if log_path else contextlib.nullcontext(subprocess.DEVNULL) as log:
        process = subprocess.Popen(command, env=server_env(api_url, ui_url, env), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = LocalServer(process, api_url, ui_url)
    try:
        wait_for_health(server, HEALTH_TIMEOUT_S)
    except BaseException:
        stop_server(server)
        raise
    return server


def server_env(api_url: str, ui_url: str, env: dict | None = None) -> dict:
    """The server process's environment: ours, then the caller's `env`, then the URLs it serves at."""
    # `--port` alone does not reach the UI: its /ui-settings returns PREFECT_SERVER_UI_API_URL,
    # which defaults to PREFECT_API_URL or else 127.0.0.1:4200, so the browser would call a port
    # nobody serves ("Can't connect to Server API"). PREFECT_UI_URL makes the links the server
    # renders (an automation's `flow_run|ui_url` in a notification) point here too.
    return {**os.environ, **(env or {}), "PREFECT_SERVER_UI_API_URL": api_url, "PREFECT_UI_URL": ui_url}


def answers_health(api_url: str, timeout_s: float) -> bool:
    """Whether a Prefect API answers 200 on /health now (refused, reset or slow: False)."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout_s) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for_health(server: LocalServer, timeout_s: float) -> None:
    """Block until the server's /api/health answers 200; raise if it exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"prefect server exited with code {server.process.returncode}")
        if answers_health(server.api_url, timeout_s=2):
            return
        time.sleep(0.5)
    raise TimeoutError(f"prefect server at {server.api_url} not healthy after {timeout_s:.0f} s")


def stop_server(server: LocalServer, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the server's process group, SIGKILL it if it outlives timeout_s."""
    stop_process_group(server.process, timeout_s)


def stop_process_group(process: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM a process started in its own session, then SIGKILL its group after timeout_s."""
    stop_process_groups([process], timeout_s)


def stop_process_groups(processes: list[subprocess.Popen], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM every process group at once, then SIGKILL the groups still alive after timeout_s.

    All at once: N workers each taking their time to cancel a flow run would otherwise cost N
    timeouts, longer than whoever stops us may wait.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in processes if p.poll() is None]
        for process in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        deadline = time.monotonic() + timeout_s
        for process in alive:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                continue
