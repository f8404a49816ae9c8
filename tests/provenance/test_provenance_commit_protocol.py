"""The commit protocol against the real local S3: lost PUT response, racing commits, crash before commit, cleanup.

`LostResponseProxy` is a test double for a fault we cannot cause otherwise: a loopback TCP
proxy between boto3 and SeaweedFS that forwards the first PUT to the server, waits for the
server's answer and then drops it (the client sees the connection close, the object is stored).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pytest

from catalog_concepts.provenance.verify import verify_run
from catalog_concepts.storage import keys
from catalog_concepts.storage.cleanup import cleanup_orphans, find_orphans
from catalog_concepts.storage.manifest import AlreadyCommittedError, commit_manifest, read_manifests, rows_to_table
from catalog_concepts.storage.publish import put_if_absent
from catalog_concepts.storage.settings import S3Settings, boto3_client

REPO_ROOT = Path(__file__).resolve().parents[2]


class LostResponseProxy:
    """Loopback TCP proxy that swallows the server's final response to the first `drop` PUT requests."""

    def __init__(self, upstream: str, drop: int = 1):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.to_drop = drop
        self.dropped = 0
        self.puts = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _handle(self, client_r, client_w) -> None:
        server_r, server_w = await asyncio.open_connection(*self.upstream)
        state = {"drop": False}

        async def requests() -> None:
            while data := await client_r.read(65536):
                if data.startswith(b"PUT "):
                    self.puts += 1
                    if self.dropped < self.to_drop:
                        self.dropped += 1
                        state["drop"] = True
                server_w.write(data)
                await server_w.drain()
            server_w.close()

        async def responses() -> None:
            buffer = b""
            while data := await server_r.read(65536):
                if not state["drop"]:
                    client_w.write(data)
                    await client_w.drain()
                    continue
                buffer += data
                if b"\r\n\r\n" in buffer and not buffer.startswith(b"HTTP/1.1 100"):
                    client_w.transport.abort()  # the server answered; the client never hears it
                    server_w.close()
                    return
                if buffer.startswith(b"HTTP/1.1 100") and b"\r\n\r\n" in buffer:
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    client_w.write(head + b"\r\n\r\n")  # let the body flow
            client_w.close()

        await asyncio.gather(requests(), responses(), return_exceptions=True)


@pytest.fixture
def proxy(local_s3_server):
    p = LostResponseProxy(local_s3_server.endpoint_url)
    yield p
    p.close()


def _via(s3: S3Settings, endpoint_url: str) -> S3Settings:
    return S3Settings(endpoint_url=endpoint_url, bucket=s3.bucket, access_key=s3.access_key, secret_key=s3.secret_key)


def test_lost_put_response_is_retried_and_accepted_by_checksum(s3, proxy):
    body = os.urandom(50_000)
    result = put_if_absent(boto3_client(_via(s3, proxy.endpoint_url)), s3.bucket, "images/run=r1/aa/x/v0.png", body, "image/png")
    assert proxy.dropped == 1 and proxy.puts == 2  # the first answer was lost; the retry got 412
    assert result.created is False  # ... and was accepted because the stored checksum matches
    assert result.sha256_hex == hashlib.sha256(body).hexdigest()
    stored = boto3_client(s3).get_object(Bucket=s3.bucket, Key=result.key)["Body"].read()
    assert stored == body


def test_lost_manifest_put_response_still_commits_once(s3, proxy, publish_run):
    run = publish_run(s3, commit=False)
    table = rows_to_table(run.rows)
    committed = commit_manifest(boto3_client(_via(s3, proxy.endpoint_url)), s3.bucket, run.manifest_key, table)
    assert proxy.dropped == 1
    # The retry found our own manifest: not an error, and exactly one copy is visible.
    assert committed is False
    assert read_manifests(s3).num_rows == len(run.rows)
    assert verify_run(s3, run.run_id).ok


def test_sixteen_racing_commits_have_exactly_one_winner_in_five_trials(s3, publish_run):
    base = publish_run(s3, commit=False).rows
    clients = [boto3_client(s3) for _ in range(16)]
    for trial in range(5):
        run_id = f"2026-11-26-race{trial}"
        manifest = keys.manifest_key("2026-11-26", run_id)
        # Sixteen writers with different manifests (different created_at) for one run_id.
        tables = [
            rows_to_table([{**row, "run_id": run_id, "created_at": row["created_at"] + dt.timedelta(microseconds=i)}
                           for row in base])
            for i in range(len(clients))
        ]
        barrier = threading.Barrier(len(clients))

        def commit(i: int, barrier=barrier, manifest=manifest, tables=tables):
            barrier.wait()
            try:
                return commit_manifest(clients[i], s3.bucket, manifest, tables[i])
            except AlreadyCommittedError:
                return "already committed"

        with ThreadPoolExecutor(len(clients)) as pool:
            outcomes = list(pool.map(commit, range(len(clients))))
        winners = [i for i, outcome in enumerate(outcomes) if outcome is True]
        assert len(winners) == 1, (trial, outcomes)
        assert outcomes.count("already committed") == 15
        stored = read_manifests(s3, prefix="manifests/")
        mine = stored.filter(pa.compute.equal(stored["run_id"], run_id))
        assert mine.column("created_at").to_pylist() == tables[winners[0]].column("created_at").to_pylist()
    print("\nracing commits: 5/5 trials had exactly 1 winner of 16")


def test_identical_racing_commits_all_succeed_and_one_creates(s3, publish_run):
    run = publish_run(s3, commit=False)
    table = rows_to_table(run.rows)
    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(lambda c: commit_manifest(c, s3.bucket, run.manifest_key, table),
                                 [boto3_client(s3) for _ in range(16)]))
    assert outcomes.count(True) == 1 and outcomes.count(False) == 15


CRASHING_PUBLISHER = r"""
import os, signal, sys
import numpy as np
from catalog_concepts.provenance.label import label_image
from catalog_concepts.storage import keys, staging
from catalog_concepts.storage.publish import put_many
from catalog_concepts.storage.settings import S3Settings, boto3_client

s3 = S3Settings(endpoint_url=sys.argv[1], bucket=sys.argv[2], access_key=sys.argv[3], secret_key=sys.argv[4])
run_id = sys.argv[5]
client = boto3_client(s3)
rng = np.random.default_rng(0)
items = []
for v in range(4):
    pixels = (rng.random((32, 32, 3)) * 255).astype(np.uint8)  # (H, W, 3)
    image = label_image(pixels, asset_id=keys.asset_id(run_id, "SKU-1", v), prompt="p", system="s",
                        system_version="v", parameters={}, signer=None)
    items.append((keys.image_key(run_id, "SKU-1", v), image.png, "image/png", None))
put_many(client, s3.bucket, items)
client.put_object(Bucket=s3.bucket, Key=staging.shard_key(run_id, 0, ["a"]), Body=b"staged rows")
print("images stored", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # crash between the images and the manifest commit
"""


def _keys(s3: S3Settings) -> list[str]:
    client = boto3_client(s3)
    return sorted(obj["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket)
                  for obj in page.get("Contents", []))


def test_crash_between_images_and_manifest_leaves_invisible_orphans_that_cleanup_removes(s3, publish_run):
    committed = publish_run(s3, run_id="2026-11-26-committed")
    crashed_run = "2026-11-26-crashed"
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_PUBLISHER, s3.endpoint_url, s3.bucket, s3.access_key, s3.secret_key, crashed_run],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "images stored" in done.stdout
    orphan_keys = [k for k in _keys(s3) if f"run={crashed_run}" in k]
    assert len(orphan_keys) == 5  # 4 images + 1 staged shard

    # Readers see only the committed run: the crashed run's images are invisible.
    seen = read_manifests(s3)
    assert set(seen.column("run_id").to_pylist()) == {committed.run_id}
    with pytest.raises(LookupError, match="found none"):
        verify_run(s3, crashed_run)

    # Inside the grace period nothing is touched, even with --apply.
    young = cleanup_orphans(s3, grace=dt.timedelta(hours=1), apply=True)
    assert young.orphans == [] and young.young_orphans == 5
    assert [k for k in _keys(s3) if f"run={crashed_run}" in k] == orphan_keys

    # After it, a dry run lists exactly the orphans and deletes nothing ...
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    dry = find_orphans(s3, grace=dt.timedelta(hours=1), now=later)
    assert sorted(o.key for o in dry.orphans) == orphan_keys
    assert [k for k in _keys(s3) if f"run={crashed_run}" in k] == orphan_keys
    # ... and --apply deletes them, never an object a manifest names.
    applied = cleanup_orphans(s3, grace=dt.timedelta(hours=1), apply=True, now=later)
    assert applied.applied and sorted(o.key for o in applied.orphans) == orphan_keys
    remaining = _keys(s3)
    assert not [k for k in remaining if f"run={crashed_run}" in k]
    named = {row["s3_uri"].split("/", 3)[3] for row in committed.rows}
    assert named <= set(remaining)
    assert verify_run(s3, committed.run_id).ok


def test_a_run_with_any_young_orphan_is_kept_whole(s3):
    """r-mixed has an old image and younger staged rows: none of it goes, or the rows would outlive the image."""
    import time

    client = boto3_client(s3)
    old_keys = ["images/run=r-old/aa/x/v0.png", "staging/run=r-old/shard-00000-x.parquet", "images/run=r-mixed/aa/x/v0.png"]
    for key in old_keys:
        client.put_object(Bucket=s3.bucket, Key=key, Body=b"x")
    time.sleep(2.1)  # LastModified has one-second resolution
    staged = "staging/run=r-mixed/shard-00000-y.parquet"
    client.put_object(Bucket=s3.bucket, Key=staged, Body=b"x")
    first = client.head_object(Bucket=s3.bucket, Key=old_keys[0])["LastModified"]
    last = client.head_object(Bucket=s3.bucket, Key=staged)["LastModified"]
    assert last - first >= dt.timedelta(seconds=2)
    # The cutoff falls between the two writes.
    report = find_orphans(s3, grace=(last - first) / 2, now=last)
    assert sorted(o.key for o in report.orphans) == sorted(old_keys[:2])
    assert report.young_orphans == 2


def test_stale_multipart_uploads_are_aborted_after_the_grace_period(s3):
    client = boto3_client(s3)
    upload = client.create_multipart_upload(Bucket=s3.bucket, Key="images/run=r9/aa/big/v0.png")
    client.upload_part(Bucket=s3.bucket, Key="images/run=r9/aa/big/v0.png", UploadId=upload["UploadId"],
                       PartNumber=1, Body=b"x" * 1024)
    assert find_orphans(s3, grace=dt.timedelta(hours=1)).stale_uploads == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    report = cleanup_orphans(s3, grace=dt.timedelta(hours=1), apply=True, now=later)
    assert [u.upload_id for u in report.stale_uploads] == [upload["UploadId"]]
    assert client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


@pytest.mark.parametrize("grace, now, error", [
    (dt.timedelta(hours=-1), None, "non-negative"), (3600, None, "timedelta"),
    (dt.timedelta(hours=1), dt.datetime(2026, 1, 1), "timezone-aware"),
])
def test_cleanup_refuses_bad_grace_and_naive_time(grace, now, error):
    unreachable = S3Settings(endpoint_url=None, bucket="never-contacted", access_key=None, secret_key=None)
    with pytest.raises(ValueError, match=error):  # checked before any request
        find_orphans(unreachable, grace=grace, now=now)
