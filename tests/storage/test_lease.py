"""The run lease against the real local S3: one holder at a time, stale holders replaced, never a silent steal."""

import datetime as dt
import json
import socket
import subprocess
import sys

import pytest

from catalog_concepts.storage.lease import (
    LeaseKeeper,
    LeaseLostError,
    RunInProgressError,
    acquire_lease,
    is_live,
    lease_key,
    read_lease,
    release_lease,
    renew_lease,
)
from catalog_concepts.storage.settings import boto3_client

RUN = "2026-12-01-lease"


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _plant(client, bucket: str, *, host: str, pid: int, expires_in: dt.timedelta) -> None:
    now = dt.datetime.now(dt.UTC)
    body = {"run_id": RUN, "host": host, "pid": pid, "token": "someone-else", "acquired_at": now.isoformat(),
            "expires_at": (now + expires_in).isoformat()}
    client.put_object(Bucket=bucket, Key=lease_key(RUN), Body=json.dumps(body).encode())


def test_second_holder_is_refused_at_once_naming_the_first(s3):
    client = boto3_client(s3)
    first = acquire_lease(client, s3.bucket, RUN)
    with pytest.raises(RunInProgressError, match=rf"run {RUN} is already in progress \(pid \d+ on "):
        acquire_lease(client, s3.bucket, RUN)
    release_lease(client, s3.bucket, first)
    assert read_lease(client, s3.bucket, RUN) is None
    second = acquire_lease(client, s3.bucket, RUN)  # free again once released
    assert second.token != first.token


def test_lease_of_a_dead_process_on_this_host_is_taken_over(s3):
    client = boto3_client(s3)
    _plant(client, s3.bucket, host=socket.gethostname(), pid=_dead_pid(), expires_in=dt.timedelta(hours=1))
    lease = acquire_lease(client, s3.bucket, RUN)
    assert read_lease(client, s3.bucket, RUN).token == lease.token


def test_live_lease_of_another_host_blocks_until_it_expires(s3):
    client = boto3_client(s3)
    _plant(client, s3.bucket, host="gpu-node-7", pid=1, expires_in=dt.timedelta(minutes=5))
    with pytest.raises(RunInProgressError, match="gpu-node-7"):
        acquire_lease(client, s3.bucket, RUN)
    # The same lease, seen from six minutes later, has lapsed: its holder stopped renewing it.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    assert not is_live(read_lease(client, s3.bucket, RUN), now=later)
    lease = acquire_lease(client, s3.bucket, RUN, now=later)
    assert read_lease(client, s3.bucket, RUN).token == lease.token


def test_renewal_pushes_expiry_and_detects_a_takeover(s3):
    client = boto3_client(s3)
    lease = acquire_lease(client, s3.bucket, RUN, ttl=dt.timedelta(seconds=30))
    renewed = renew_lease(client, s3.bucket, lease, ttl=dt.timedelta(minutes=10))
    assert renewed.expires_at > lease.expires_at and renewed.token == lease.token
    assert read_lease(client, s3.bucket, RUN).expires_at == renewed.expires_at
    _plant(client, s3.bucket, host="gpu-node-7", pid=1, expires_in=dt.timedelta(minutes=5))
    with pytest.raises(LeaseLostError, match="gpu-node-7"):
        renew_lease(client, s3.bucket, renewed)
    release_lease(client, s3.bucket, renewed)  # not ours any more: left alone
    assert read_lease(client, s3.bucket, RUN).host == "gpu-node-7"


def test_keeper_holds_the_lease_inside_the_block_only(s3):
    client = boto3_client(s3)
    with LeaseKeeper(client, s3.bucket, RUN) as keeper:
        assert read_lease(client, s3.bucket, RUN).token == keeper.lease.token
        with pytest.raises(RunInProgressError):
            acquire_lease(client, s3.bucket, RUN)
        keeper.check()
    assert read_lease(client, s3.bucket, RUN) is None


def test_lease_needs_a_positive_ttl(s3):
    with pytest.raises(ValueError, match="ttl must be positive"):
        acquire_lease(boto3_client(s3), s3.bucket, RUN, ttl=dt.timedelta(0))
