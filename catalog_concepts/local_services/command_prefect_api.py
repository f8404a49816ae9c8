"""The CLI's own local Prefect API: a loopback `prefect server start` that never outlives the command.

Why not Prefect's ephemeral mode (PREFECT_API_URL unset): it waits 20 s for its server
(server.ephemeral.startup_timeout_seconds), and on a 2-core machine its start took 15 s idle,
28 s at load 5 and 83 s at load 10 on a new database, so `run` failed with "Timed out while
attempting to connect to ephemeral Prefect API". Raising that setting to 300 s made the start
succeed, but Prefect spawns its uvicorn child with no parent-death signal and no public hook to
add one, so a SIGKILLed `run` still left the server running. Here the child gets
PR_SET_PDEATHSIG: the kernel sends it SIGTERM when we die, whatever kills us.

`prefect server start` (one worker) runs uvicorn in its own process and forks no further
children (checked with `ps --ppid` on the running server), so the signal reaches the whole server.
"""

import atexit
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from catalog_concepts.local_services.free_space import NEARLY_FULL_BYTES, free_bytes
from catalog_concepts.local_services.prefect_server import answers_health

HOST = "127.0.0.1"
# Measured start-up to a healthy /api/health on 2 cores (new database / existing one):
# 18 / 6 s idle, 31 / 19 s at load 5, 76 / 26 s at load 10. The deadline only bounds a server
# that never comes up: the wait ends early if the child exits.
STARTUP_DEADLINE_S = 300.0
STOP_TIMEOUT_S = 20.0
HEALTH_POLL_S = 0.5
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Lines of the server log that say why it could not start, quoted in the error when present.
DISK_FULL_MARKERS = ("database or disk is full", "No space left on device")
# Prefect services the in-process flow never needs; the ephemeral server skips them too.
# Off, the scheduler cannot add runs of deployments that `ops stack up` left in this database.
SERVER_ENV = {
    "PREFECT_SERVER_UI_ENABLED": "false",  # the UI's static files are copied at start-up: slower
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_REPOSSESSOR_ENABLED": "false",
}
# The CLI's logging configuration (catalog_concepts/cli/run_log.py) is for the client; the server keeps Prefect's
# own, whose handlers these overrides would name wrongly, and writes its output to the log as is.
CLIENT_ONLY_ENV = (
    "PREFECT_API_URL", "PREFECT_UI_URL", "PREFECT_LOGGING_SETTINGS_PATH",
    "PREFECT_LOGGING_HANDLERS_FILE_FILENAME", "PREFECT_LOGGING_HANDLERS_CONSOLE_FORMATTER",
)


class LocalPrefectApiError(RuntimeError):
    """The local Prefect API did not come up; the message names its log and quotes the last lines."""


@dataclass
class LocalPrefectApi:
    """A `prefect server` child of this process and the API URL it serves."""

    process: subprocess.Popen
    api_url: str
    log_path: Path
    prefect_home: Path


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_local_api(prefect_home: Path, log_path: Path, deadline_s: float = STARTUP_DEADLINE_S) -> LocalPrefectApi:
    """Start a loopback Prefect server on PREFECT_HOME's database and wait until it is healthy."""
    # The death signal is tied to the thread that forks; a worker thread's exit would kill the server.
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("start_local_api must run on the main thread (PR_SET_PDEATHSIG follows the forking thread)")
    port = free_port()
    api_url = f"http://{HOST}:{port}/api"
    env = {**os.environ, **SERVER_ENV, "PREFECT_HOME": str(prefect_home)}
    for name in CLIENT_ONLY_ENV:
        env.pop(name, None)
    # What /ui-settings tells a browser; without it, 127.0.0.1:4200 whatever the port (only
    # matters if someone turns the UI on: the CLI's API serves none).
    env["PREFECT_SERVER_UI_API_URL"] = api_url
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C in the terminal reaches us, and we stop the server after draining.
            start_new_session=True, preexec_fn=_die_with_parent(os.getpid()),
        )
    api = LocalPrefectApi(process, api_url, log_path, Path(prefect_home))
    atexit.register(stop_local_api, api)
    try:
        _wait_until_healthy(api, deadline_s)
    except BaseException:
        stop_local_api(api)
        raise
    return api


def stop_local_api(api: LocalPrefectApi, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the server's process group, SIGKILL it if it outlives timeout_s; safe to call twice."""
    process = api.process
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=timeout_s)
            return
        except subprocess.TimeoutExpired:
            continue
    process.wait(timeout=timeout_s)


def _die_with_parent(parent_pid: int):
    """A preexec_fn: ask the kernel to SIGTERM the child when its parent dies."""

    def set_death_signal() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        # The parent may have died between fork and prctl: then no signal would ever come.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)

    return set_death_signal


def _wait_until_healthy(api: LocalPrefectApi, deadline_s: float) -> None:
    """Poll /api/health until it answers 200; raise if the server exits or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if api.process.poll() is not None:
            error = LocalPrefectApiError(
                f"the local Prefect API exited with code {api.process.returncode} during start-up; "
                f"its log {api.log_path} says: {_log_reason(api.log_path)}"
            )
            # On a full disk the server's SQLite fails at its first write and its log may be
            # empty for the same reason: the free space says what the log cannot.
            if free_bytes(api.prefect_home) < NEARLY_FULL_BYTES:
                raise error from OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(api.prefect_home))
            raise error
        if answers_health(api.api_url, timeout_s=5):
            return
        time.sleep(HEALTH_POLL_S)
    raise LocalPrefectApiError(
        f"the local Prefect API was not healthy after {deadline_s:.0f} s; its log {api.log_path} says: "
        f"{_log_reason(api.log_path)}"
    )


def _log_reason(path: Path) -> str:
    """The log line that tells why the server stopped: a disk-full line if any, else the last line."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError as error:
        return f"(unreadable: {error})"
    for line in lines:
        if any(marker in line for marker in DISK_FULL_MARKERS):
            return line
    return lines[-1] if lines else "(nothing)"
