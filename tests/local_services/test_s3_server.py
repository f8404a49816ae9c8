"""The embedded SeaweedFS: a second instance beside the session's, reuse, restart, clean stop."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from catalog_concepts.local_services.s3_server import (
    LocalS3,
    LocalS3StartError,
    find_running,
    local_s3,
    local_s3_settings,
    start_local_s3,
    stop_local_s3,
    weed_binary,
)
from catalog_concepts.storage.bucket import ensure_bucket
from catalog_concepts.storage.settings import S3Settings, boto3_client

# Starts its own SeaweedFS processes: not part of `make test-fast`.
pytestmark = pytest.mark.server


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_weed_binary_is_the_wheels_executable() -> None:
    binary = weed_binary()
    assert binary.name == "weed" and os.access(binary, os.X_OK)


def test_second_instance_coexists_is_found_and_keeps_data_across_restart(
    tmp_path: Path, local_s3_server: LocalS3
) -> None:
    data_dir = tmp_path / "demo"
    with local_s3(data_dir) as demo:
        # Beside the session server, on its own ports, loopback only.
        assert demo.endpoint_url != local_s3_server.endpoint_url
        assert demo.endpoint_url.startswith("http://127.0.0.1:")
        assert _alive(demo.pid)
        assert json.loads((data_dir / "weed.pid").read_text())["pid"] == demo.pid
        credentials = data_dir / "credentials.json"
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        assert "secret_key" not in repr(demo) and demo.secret_key not in repr(demo)

        assert find_running(data_dir) == demo
        with pytest.raises(LocalS3StartError, match="already runs on"):
            start_local_s3(data_dir)

        settings = local_s3_settings(demo, "demo-bucket")
        ensure_bucket(settings)
        boto3_client(settings).put_object(Bucket="demo-bucket", Key="kept", Body=b"survives restart")
        # The session server does not see the demo's bucket.
        session_buckets = boto3_client(local_s3_settings(local_s3_server, "demo-bucket")).list_buckets()
        assert "demo-bucket" not in {b["Name"] for b in session_buckets["Buckets"]}

    assert not _alive(demo.pid)
    assert not (data_dir / "weed.pid").exists()
    assert find_running(data_dir) is None

    # Restart on the same folder: same persisted keys, new ports, same objects.
    with local_s3(data_dir) as again:
        assert (again.access_key, again.secret_key) == (demo.access_key, demo.secret_key)
        body = boto3_client(local_s3_settings(again, "demo-bucket")).get_object(Bucket="demo-bucket", Key="kept")
        assert body["Body"].read() == b"survives restart"
    assert not _alive(again.pid)


def test_taken_port_fails_with_the_log_tail(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(LocalS3StartError, match=rf"Port allocation failed: port {port} for S3") as info:
            start_local_s3(tmp_path / "blocked", port=port, timeout_s=20)
    assert "last lines of" in str(info.value)
    assert not (tmp_path / "blocked" / "weed.pid").exists()


def test_stale_pid_file_is_ignored_and_removed(tmp_path: Path) -> None:
    data_dir = tmp_path / "stale"
    data_dir.mkdir()
    (data_dir / "credentials.json").write_text(json.dumps({"access_key": "a", "secret_key": "b"}))
    # Our own pid: alive, but not a weed serving this folder (pid reuse must not fool us).
    (data_dir / "weed.pid").write_text(json.dumps({"pid": os.getpid(), "endpoint_url": "http://127.0.0.1:1"}))
    assert find_running(data_dir) is None
    assert not (data_dir / "weed.pid").exists()
    # stop_local_s3 must not signal a process that is not our weed.
    stop_local_s3(LocalS3(os.getpid(), "http://127.0.0.1:1", "a", "b", data_dir))


@pytest.mark.parametrize(("kwargs", "message"), [({"port": 0}, "port must be an int"),
                                                 ({"port": True}, "port must be an int"),
                                                 ({"access_key": "only-one"}, "both access_key and secret_key")])
def test_start_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        start_local_s3(tmp_path / "bad", **kwargs)


def test_ensure_bucket_is_idempotent(s3: S3Settings) -> None:
    ensure_bucket(s3)
    ensure_bucket(s3)
    names = {b["Name"] for b in boto3_client(s3).list_buckets()["Buckets"]}
    assert s3.bucket in names
