"""The local production-like stack: a loopback `prefect server` and the deployments of infra/prefect.yaml, served.

Serving reads the same prefect.yaml a production deploy does (names, entrypoints, schedules,
descriptions), so the local UI shows exactly the deployments and schedule production has.
"""

import contextlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from flows.resources import REPO_ROOT

PREFECT_YAML = REPO_ROOT / "infra" / "prefect.yaml"
HOST = "127.0.0.1"
# The fleet's child flow: never served by the stack's own process (a served shard worker would
# wait for the one slot its nightly parent holds); it runs on the GPU pool's workers.
SHARD_WORKER = "shard-worker"
GPU_POOL = "gpu-pool"
HEALTH_TIMEOUT_S = 300.0  # ~18 s idle; 81-93 s measured at load 6-12 on the 2-core CI box
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of prefect.yaml: name, entrypoint, description, tags, schedules, concurrency."""

    name: str
    entrypoint: str
    description: str
    tags: tuple[str, ...]
    schedules: tuple[dict, ...]
    concurrency_limit: int | None


@dataclass(frozen=True)
class LocalServer:
    """A `prefect server` process on loopback and its API URL."""

    process: subprocess.Popen
    api_url: str
    ui_url: str


def deployment_specs(path: Path = PREFECT_YAML) -> list[DeploymentSpec]:
    """The deployments declared in prefect.yaml (aliases resolved by the YAML loader)."""
    document = yaml.safe_load(path.read_text())
    specs = []
    for entry in document.get("deployments") or []:
        missing = [k for k in ("name", "entrypoint") if not entry.get(k)]
        if missing:
            raise ValueError(f"{path}: a deployment lacks {missing}")
        specs.append(DeploymentSpec(
            name=entry["name"], entrypoint=entry["entrypoint"], description=entry.get("description", ""),
            tags=tuple(entry.get("tags") or ()), schedules=tuple(entry.get("schedules") or ()),
            concurrency_limit=entry.get("concurrency_limit"),
        ))
    return specs


def load_entrypoint(entrypoint: str):
    """The flow object named by 'path/to/file.py:function' relative to the repo root."""
    path, _, name = entrypoint.partition(":")
    if not path.endswith(".py") or not name:
        raise ValueError(f"entrypoint {entrypoint!r}: expected 'path/to/file.py:flow_function'")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


def served_deployments(path: Path = PREFECT_YAML, shard_workers: int = 0) -> list:
    """RunnerDeployments for prefect.yaml's deployments but the shard worker, with schedules and timezone.

    shard_workers > 0 makes it the nightly's and the backfill's default: a scheduled night fans
    out to that many shard workers on the GPU pool.
    """
    from prefect.schedules import Cron

    deployments = []
    for spec in deployment_specs(path):
        if spec.name == SHARD_WORKER:
            continue
        schedules = [
            Cron(s["cron"], timezone=s.get("timezone"), active=s.get("active", True))
            for s in spec.schedules if "cron" in s
        ]
        flow = load_entrypoint(spec.entrypoint)
        parameters = {"shard_workers": shard_workers} if shard_workers and spec.name in ("nightly", "backfill") else None
        deployments.append(flow.to_deployment(
            name=spec.name, description=spec.description, tags=list(spec.tags),
            schedules=schedules or None, concurrency_limit=spec.concurrency_limit, parameters=parameters,
        ))
    return deployments


def serve_deployments(limit: int = 1, shard_workers: int = 0) -> None:
    """Serve the deployments until interrupted; limit=1: one flow run at a time, the one-GPU rule locally."""
    from prefect import serve

    os.chdir(REPO_ROOT)  # served runs load their entrypoints relative to the repo root
    serve(*served_deployments(shard_workers=shard_workers), limit=limit)


def deploy_gpu_pool(slots: int, pool: str = GPU_POOL) -> None:
    """A process work pool of `slots` concurrent runs with the shard-worker deployment on it (from this checkout)."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    (spec,) = [s for s in deployment_specs() if s.name == SHARD_WORKER]
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=pool, type="process", concurrency_limit=slots), overwrite=True)
    flow = load_entrypoint(spec.entrypoint)
    # from_source loads the entrypoint as a script, and Prefect's script loader leaves the script's
    # folder (flows/) first on sys.path for good: flows/review.py would then shadow the review
    # package for every later import in this process (the stack serves the review flow next).
    saved_path = list(sys.path)
    try:
        flow.from_source(source=str(REPO_ROOT), entrypoint=spec.entrypoint).deploy(
            name=spec.name, work_pool_name=pool, description=spec.description, tags=list(spec.tags),
            print_next_steps=False, build=False, push=False,
        )
    finally:
        sys.path[:] = saved_path


def worker_threads(workers: int, cpus: int | None = None) -> int:
    """Torch threads per worker when `workers` share this machine's CPUs (at least 1)."""
    cpus = cpus or len(os.sched_getaffinity(0))
    return max(1, cpus // workers)


def start_workers(count: int, env: dict, log_dir: Path, pool: str = GPU_POOL) -> list[subprocess.Popen]:
    """`count` process workers on the pool, one slot each (`--limit 1`: one generation per GPU), CPUs split between them."""
    threads = str(worker_threads(count))
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = []
    for index in range(count):
        worker_env = {**os.environ, **env, "CONCEPTS_TORCH_THREADS": threads, "OMP_NUM_THREADS": threads}
        with open(log_dir / f"worker-{index}.log", "ab") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--limit", "1",
                 "--name", f"{pool}-slot-{index}"],
                cwd=REPO_ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
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


def wait_for_health(server: LocalServer, timeout_s: float) -> None:
    """Block until the server's /api/health answers 200; raise if it exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"prefect server exited with code {server.process.returncode}")
        try:
            with urllib.request.urlopen(f"{server.api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
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


def drain_client_workers() -> None:
    """Flush this process's queued Prefect logs and events; call before its server stops, or exit retries for minutes."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    # The same order as prefect.testing.utilities.prefect_test_harness on exit.
    async def drain() -> None:
        try:
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        except RuntimeError:
            pass  # never started
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())
