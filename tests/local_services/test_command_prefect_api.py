"""The CLI's own local Prefect API: it comes up, and it never outlives the `run` that started it."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from catalog.sample import write_sample_catalog
from catalog_concepts.local_services.command_prefect_api import LocalPrefectApiError, start_local_api, stop_local_api

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
# Generous on purpose: at load 10 on 2 cores a start took 76 s that took 18 s idle.
SERVER_UP_DEADLINE_S = 400.0
SERVER_GONE_DEADLINE_S = 120.0
RUN_DEADLINE_S = 900.0


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return str(tiny_model_dir)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return str(write_sample_catalog(tmp_path_factory.mktemp("catalog") / "four.parquet", n=4, seed=3))


def _cli_env(tmp_path: Path) -> dict:
    env = {
        **os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "CONCEPTS_HOME": str(tmp_path / "home"),
        "CONCEPTS_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1",
    }
    env.pop("PREFECT_API_URL", None)  # the CLI starts its own local API
    return env


def _run_command(catalog: str, model_dir: str) -> list[str]:
    return [sys.executable, "-m", "catalog_concepts.cli.main", "run", "--catalog", catalog, "--model", model_dir,
            "--variants", "1", "--skus-per-shard", "2", "--batch-size", "2", "--seed", "5"]


def _alive(pid: int) -> bool:
    """Running and not a zombie (an orphan's zombie may wait for a reaper that is not ours)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _prefect_servers(prefect_home: Path) -> list[int]:
    """Pids of live Prefect servers (ours or Prefect's ephemeral uvicorn) on this PREFECT_HOME."""
    wanted = f"PREFECT_HOME={prefect_home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # exited meanwhile
        serves = b"prefect" in b" ".join(cmdline) and (b"server" in cmdline or b"uvicorn" in cmdline)
        if serves and wanted in environ and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _healthy_port(pid: int) -> int | None:
    """The --port of a server process if its /api/health answers 200 now."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        port = int(args[args.index("--port") + 1])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as response:
            return port if response.status == 200 else None
    except (OSError, ValueError):
        return None


def test_sigkilled_run_takes_its_prefect_server_with_it_and_a_rerun_commits(s3_env, model_dir, catalog, tmp_path):
    env = _cli_env(tmp_path)
    prefect_home = tmp_path / "prefect"
    process = subprocess.Popen(_run_command(catalog, model_dir), env=env, cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + SERVER_UP_DEADLINE_S
        servers: list[int] = []
        while not (servers and _healthy_port(servers[0])):
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the run's Prefect server never became healthy"
            servers = _prefect_servers(prefect_home)
            time.sleep(0.5)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
        process.stderr.close()

    deadline = time.monotonic() + SERVER_GONE_DEADLINE_S
    while any(_alive(pid) for pid in servers):
        assert time.monotonic() < deadline, f"Prefect server {servers} outlived its SIGKILLed run"
        time.sleep(0.2)
    assert _prefect_servers(prefect_home) == []

    # The same state folders still work: the rerun starts a fresh server, commits, and stops it.
    rerun = subprocess.run(_run_command(catalog, model_dir), env=env, cwd=REPO_ROOT, capture_output=True,
                           text=True, timeout=RUN_DEADLINE_S)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = dict(line.split(None, 1) for line in rerun.stdout.splitlines() if line.startswith("  "))
    assert "committed" in rerun.stdout and summary["images"] == "4"
    assert _prefect_servers(prefect_home) == []
    # No "View at" link into a UI the command's API never served and that is gone now; the way to one instead.
    assert "View at" not in rerun.stdout + rerun.stderr, rerun.stderr[-3000:]
    assert "no UI" in rerun.stdout and "ops stack up" in rerun.stdout


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path):
    not_a_folder = tmp_path / "prefect-home"
    not_a_folder.write_text("a file where Prefect's home folder should be")
    log = tmp_path / "server.log"
    with pytest.raises(LocalPrefectApiError, match="exited with code") as raised:
        start_local_api(not_a_folder, log, deadline_s=SERVER_UP_DEADLINE_S)
    assert str(log) in str(raised.value) and log.read_text()
    assert _prefect_servers(not_a_folder) == []


def test_start_and_stop_leave_no_server_behind(tmp_path):
    api = start_local_api(tmp_path / "prefect", tmp_path / "server.log", deadline_s=SERVER_UP_DEADLINE_S)
    try:
        with urllib.request.urlopen(f"{api.api_url}/health", timeout=30) as response:
            assert response.status == 200
        assert _prefect_servers(tmp_path / "prefect") == [api.process.pid]
        # Were the UI turned on, it would call this server, not 127.0.0.1:4200.
        with urllib.request.urlopen(f"{api.api_url.removesuffix('/api')}/ui-settings", timeout=30) as response:
            assert json.load(response)["api_url"] == api.api_url
    finally:
        stop_local_api(api)
    assert api.process.returncode is not None and _prefect_servers(tmp_path / "prefect") == []
    stop_local_api(api)  # a second stop (atexit after the normal path) is harmless
