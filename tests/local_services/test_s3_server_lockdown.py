"""The embedded S3 is locked: only the S3 API, with keys, reads or changes objects.

One server is started in a hostile user environment (a ~/.seaweedfs with attacker JWT keys
and no gRPC CA, WEED_* variables with attacker keys). Every TCP port and unix socket its
process listens on is found from /proc, not from our own port list, and each is sent
anonymous reads, listings, writes, overwrites and deletes in the dialects of S3, the filer,
the volume server and the master; gRPC listeners must refuse a TLS session without our
client certificate. The S3 API with keys must still do everything the pipeline needs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import socket
import ssl
import stat
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cryptography import x509

import catalog_concepts.local_services.seaweed_security as seaweed_security
from catalog_concepts.local_services.s3_server import (
    LocalS3,
    LocalS3StartError,
    find_running,
    local_s3_settings,
    start_local_s3,
    stop_local_s3,
    weed_binary,
)
from catalog_concepts.local_services.seaweed_security import JWT_SECTIONS, client_tls_files, ensure_security_config, jwt_key
from catalog_concepts.storage.settings import S3Settings, boto3_client

# Starts its own SeaweedFS processes: not part of `make test-fast`.
pytestmark = pytest.mark.server

ATTACKER_KEY = "attacker-known-signing-key"
# What a careless or hostile user config would say; weed must never read any of it.
HOSTILE_TOML = f"""
[jwt.signing]
key = "{ATTACKER_KEY}"
[jwt.signing.read]
key = "{ATTACKER_KEY}"
[jwt.filer_signing]
key = "{ATTACKER_KEY}"
[jwt.filer_signing.read]
key = "{ATTACKER_KEY}"
[access]
ui = true
[grpc]
ca = ""
"""
STATUS_PATHS = ("/", "/ui/index.html", "/status", "/dir/status", "/vol/status", "/cluster/status",
                "/metrics", "/stats/counter", "/healthz", "/health")
REQUEST_TIMEOUT_S = 30.0  # generous: a loaded 2-core box; no assertion depends on speed
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + empty SETTINGS


@dataclass(frozen=True)
class Locked:
    """The locked server, its bucket, the objects put through S3 and their volume file ids."""

    server: LocalS3
    settings: S3Settings
    objects: dict[str, bytes]
    fids: list[str]
    token: str  # in every key; requests name only the first key, and refusals may echo it
    secret: str  # in one key no request names and in every body: no answer may contain it


# ---------------------------------------------------------------- discovering the listeners


def _process_tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc/*/stat)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(entry.name)] = int(fields[1])
    tree, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def _socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
            except OSError:
                continue
            if match:
                inodes.add(match.group(1))
    return inodes


def listening_tcp(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by pid's process tree."""
    inodes = _socket_inodes(_process_tree(pid))
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A = LISTEN
                continue
            address_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(address_hex)
            # /proc prints each 32-bit word of the address in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, words)
            found.append((address, int(port_hex, 16)))
    return sorted(found)


def listening_unix(pid: int) -> list[str]:
    """Paths of every listening unix stream socket owned by pid's process tree."""
    inodes = _socket_inodes(_process_tree(pid))
    found = []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        # Flags 00010000 = accepting connections; type 0001 = stream; a path is present.
        if len(fields) >= 8 and fields[6] in inodes and fields[3] == "00010000" and fields[4] == "0001":
            found.append(fields[7])
    return sorted(found)


# ---------------------------------------------------------------- speaking to a listener


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=REQUEST_TIMEOUT_S)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(REQUEST_TIMEOUT_S)
        self.sock.connect(self._path)


def _connect(target: int | str) -> socket.socket:
    if isinstance(target, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(REQUEST_TIMEOUT_S)
        sock.connect(target)
        return sock
    return socket.create_connection(("127.0.0.1", target), timeout=REQUEST_TIMEOUT_S)


def http_request(target: int | str, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int | None, bytes]:
    """(status, body) of one HTTP/1.1 request; (None, b'') when the listener drops it."""
    if isinstance(target, str):
        connection: http.client.HTTPConnection = _UnixHTTPConnection(target)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", target, timeout=REQUEST_TIMEOUT_S)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    except (ConnectionError, http.client.HTTPException):
        return None, b""  # a TLS-only gRPC listener resets or closes on plain HTTP
    finally:
        connection.close()


def speaks_http1(target: int | str) -> bool:
    """True if the listener answers a plain HTTP/1.1 request with an HTTP/1.1 status line."""
    status, _ = http_request(target, "GET", "/")
    return status is not None


def answers_plaintext_http2(target: int | str) -> bool:
    """True if the listener answers an HTTP/2 preface sent without TLS (an insecure gRPC client)."""
    with _connect(target) as sock:
        sock.sendall(HTTP2_PREFACE)
        try:
            reply = sock.recv(9)
        except (ConnectionError, TimeoutError):
            return False
    return len(reply) == 9 and reply[3] == 0x04  # a SETTINGS frame: gRPC spoken in the clear


def tls_session(target: int | str, client_cert: tuple[Path, Path] | None) -> str:
    """'h2' if a TLS session offering ALPN h2 opens and the server talks, else the error."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we test the server's demand, not its certificate
    context.set_alpn_protocols(["h2"])
    if client_cert is not None:
        context.load_cert_chain(*map(str, client_cert))
    with _connect(target) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                # TLS 1.3 reports a refused client certificate on the first read.
                tls.sendall(HTTP2_PREFACE)
                reply = tls.recv(9)
                if len(reply) == 9 and reply[3] == 0x04:
                    return tls.selected_alpn_protocol() or "no-alpn"
                return f"no SETTINGS frame: {reply!r}"
        except (ssl.SSLError, ConnectionError, TimeoutError) as error:
            return f"refused: {error}"


# ---------------------------------------------------------------- volume server file ids and JWTs


def needle_fids(data_dir: Path, bucket: str) -> list[str]:
    """File ids ('vid,needle+cookie') of the live needles of the bucket's volumes, read from disk."""
    fids = []
    for idx in sorted(data_dir.glob(f"{bucket}_*.idx")):
        vid = int(idx.stem.rsplit("_", 1)[1])
        index, data = idx.read_bytes(), idx.with_suffix(".dat").read_bytes()
        # The pypi 'large disk' build stores 5-byte offsets (17-byte entries), others 4 (16).
        for width in (17, 16):
            found = _parse_index(index, data, vid, width)
            if found is not None:
                fids += found
                break
        else:
            raise AssertionError(f"cannot parse {idx} with 4- or 5-byte offsets")
    return fids


def _parse_index(index: bytes, data: bytes, vid: int, width: int) -> list[str] | None:
    if len(index) % width:
        return None
    live: dict[int, str] = {}
    for start in range(0, len(index), width):
        entry = index[start : start + width]
        needle_id = int.from_bytes(entry[:8], "big")
        offset = int.from_bytes(entry[8:12], "big") | (entry[12] << 32 if width == 17 else 0)
        size = int.from_bytes(entry[width - 4 :], "big", signed=True)
        if offset == 0 or size <= 0:  # a delete marker
            live.pop(needle_id, None)
            continue
        header = data[offset * 8 : offset * 8 + 12]
        if len(header) < 12 or int.from_bytes(header[4:12], "big") != needle_id:
            return None  # wrong layout: the needle header does not name this id
        cookie = int.from_bytes(header[:4], "big")
        live[needle_id] = f"{vid},{needle_id:x}{cookie:08x}"
    return list(live.values())


def fid_jwt(key: str, fid: str) -> str:
    """An HS256 token for one file id, as SeaweedFS's master and filer mint for the volume server."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"fid": fid, "exp": int(time.time()) + 600}).encode())
    signature = b64(hmac.new(key.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest())
    return f"{head}.{claims}.{signature}"


def multipart_body(content: bytes) -> tuple[bytes, dict[str, str]]:
    """A one-file multipart/form-data body, the upload format of the volume server and master."""
    boundary = secrets.token_hex(12)
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


# ---------------------------------------------------------------- the server under test


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Locked]:
    """A locked embedded S3 started in a hostile environment, with a bucket of 3 objects."""
    home = tmp_path_factory.mktemp("hostile-home")
    (home / ".seaweedfs").mkdir()
    for name in ("security.toml", "master.toml"):
        (home / ".seaweedfs" / name).write_text(HOSTILE_TOML)
    data_dir = tmp_path_factory.mktemp("locked") / "s3"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOME", str(home))
        env.setenv("WEED_JWT_SIGNING_KEY", ATTACKER_KEY)
        env.setenv("WEED_JWT_SIGNING_READ_KEY", ATTACKER_KEY)
        env.setenv("WEED_JWT_FILER_SIGNING_KEY", ATTACKER_KEY)
        server = start_local_s3(data_dir)
    try:
        settings = local_s3_settings(server, f"lock-{uuid.uuid4().hex[:12]}")
        client = boto3_client(settings)
        client.create_bucket(Bucket=settings.bucket)
        token, secret = secrets.token_hex(8), secrets.token_hex(8)
        objects = {
            f"images/{token}/0.png": f"image 0 {secret}".encode() * 50,
            f"images/{token}/{secret}.png": f"image 1 {secret}".encode() * 50,
            f"manifests/{token}.json": json.dumps({"run": token, "secret": secret}).encode(),
        }
        for key, body in objects.items():
            client.put_object(Bucket=settings.bucket, Key=key, Body=body)
        fids = needle_fids(server.data_dir, settings.bucket)
        yield Locked(server, settings, objects, fids, token, secret)
    finally:
        stop_local_s3(server)


def _assert_bucket_intact(locked: Locked) -> None:
    client = boto3_client(locked.settings)
    listed = client.list_objects_v2(Bucket=locked.settings.bucket).get("Contents", [])
    assert sorted(o["Key"] for o in listed) == sorted(locked.objects), "an object was created or deleted"
    for key, body in locked.objects.items():
        assert client.get_object(Bucket=locked.settings.bucket, Key=key)["Body"].read() == body, f"{key} changed"


# ---------------------------------------------------------------- the tests


def test_listeners_are_loopback_and_only_the_expected_ones(locked: Locked) -> None:
    tcp = listening_tcp(locked.server.pid)
    assert tcp, "found no listening socket: /proc parsing is broken"
    assert {address for address, _ in tcp} == {"127.0.0.1"}, tcp
    argv = Path(f"/proc/{locked.server.pid}/cmdline").read_bytes().split(b"\0")
    flags = dict(m.groups() for a in argv if (m := re.fullmatch(rb"-([a-z0-9.]+)=(\d+)", a)))
    expected = {int(v): k.decode() for k, v in flags.items() if k.endswith((b"port", b"port.grpc")) and int(v)}
    expected[int(flags[b"admin.port"]) + 10000] = "admin.port.grpc"
    # S3, S3 gRPC, master, volume, filer (HTTP + gRPC each) and admin (HTTP + gRPC): no WebDAV,
    # no Iceberg, no Lance, nothing unaccounted for.
    assert sorted(port for _, port in tcp) == sorted(expected), (tcp, expected)
    assert not any("webdav" in name or "iceberg" in name or "lance" in name for name in expected.values())


def test_no_anonymous_request_on_any_listener_reads_lists_writes_or_deletes(locked: Locked) -> None:
    bucket, token = locked.settings.bucket, locked.token
    key = next(iter(locked.objects))
    assert len(locked.fids) >= len(locked.objects)
    fid = locked.fids[0]
    new_fid = f"{fid.split(',')[0]},{secrets.randbits(40):x}{secrets.randbits(32):08x}"
    upload, upload_headers = multipart_body(f"evil {token}".encode())
    requests: list[tuple[str, str, bytes | None, dict[str, str]]] = [
        # reads (S3 path style, filer path, volume file id, master lookups that hand out tokens)
        ("GET", f"/{bucket}/{key}", None, {}),
        ("GET", f"/buckets/{bucket}/{key}", None, {}),
        ("GET", f"/{fid}", None, {}),
        ("GET", f"/{fid}?readDeleted=true", None, {}),
        ("GET", f"/dir/lookup?fileId={fid}&read=yes", None, {}),
        ("GET", f"/dir/lookup?fileId={fid}", None, {}),
        # listings
        ("GET", f"/{bucket}?list-type=2", None, {}),
        ("GET", f"/{bucket}/", None, {}),
        ("GET", f"/buckets/{bucket}/", None, {}),
        ("GET", f"/buckets/{bucket}/images/{token}/?pretty=y&limit=100", None, {"Accept": "application/json"}),
        ("GET", "/buckets/", None, {"Accept": "application/json"}),
        # creates and overwrites
        ("PUT", f"/{bucket}/{key}", f"evil {token}".encode(), {}),
        ("PUT", f"/{bucket}/new-{token}.png", f"evil {token}".encode(), {}),
        ("PUT", f"/buckets/{bucket}/{key}", f"evil {token}".encode(), {}),
        ("POST", f"/buckets/{bucket}/new-{token}.png", upload, upload_headers),
        ("POST", f"/{fid}", upload, upload_headers),
        ("POST", f"/{new_fid}", upload, upload_headers),
        ("POST", "/submit", upload, upload_headers),
        ("GET", "/dir/assign", None, {}),
        ("GET", "/vol/grow?count=1", None, {}),
        # deletes
        ("DELETE", f"/{bucket}/{key}", None, {}),
        ("DELETE", f"/buckets/{bucket}/{key}", None, {}),
        ("DELETE", f"/buckets/{bucket}/?recursive=true", None, {}),
        ("DELETE", f"/{fid}", None, {}),
        ("GET", f"/col/delete?collection={bucket}", None, {}),
        ("DELETE", f"/{bucket}", None, {}),
    ]
    targets: list[int | str] = [port for _, port in listening_tcp(locked.server.pid)]
    targets += listening_unix(locked.server.pid)
    answered = []
    for target in targets:
        for method, path, body, headers in requests:
            status, reply = http_request(target, method, path, body, headers)
            where = f"{method} {path} on {target}"
            assert status is None or status >= 400, f"{where} answered {status}: {reply[:200]!r}"
            assert locked.secret.encode() not in reply, f"{where} leaked an object name or content: {reply[:200]!r}"
            answered.append(status)
        # Status pages may answer (master UI, volume /status, admin /metrics: disk usage, volume
        # ids, bucket names), but never with an object's name or content.
        for path in STATUS_PATHS:
            status, reply = http_request(target, "GET", path)
            assert locked.secret.encode() not in reply, f"GET {path} on {target} leaked: {reply[:200]!r}"
    # The HTTP listeners did answer (with refusals): the matrix reached real servers.
    assert sum(status is not None for status in answered) >= 5 * len(requests)
    _assert_bucket_intact(locked)


def test_grpc_listeners_demand_a_client_certificate_from_our_ca(locked: Locked) -> None:
    _, cert, key = client_tls_files(locked.server.data_dir)
    targets: list[int | str] = [port for _, port in listening_tcp(locked.server.pid)]
    targets += listening_unix(locked.server.pid)
    grpc = [t for t in targets if not speaks_http1(t)]
    # master, volume, filer, S3 and admin, on TCP; their unix sockets under /tmp where weed makes them.
    assert len([t for t in grpc if isinstance(t, int)]) == 5, grpc
    for target in grpc:
        assert not answers_plaintext_http2(target), f"{target} speaks gRPC without TLS"
        refused = tls_session(target, client_cert=None)
        assert refused.startswith("refused"), f"{target} opened a TLS session without a client certificate"
        # Control: with the certificate our CA signed, the same listener is an HTTP/2 (gRPC) server.
        assert tls_session(target, client_cert=(cert, key)) == "h2", target


def test_volume_server_trusts_only_our_jwt_keys(locked: Locked) -> None:
    data_dir = locked.server.data_dir
    volume_port = int(re.search(rb"-volume\.port=(\d+)", Path(f"/proc/{locked.server.pid}/cmdline").read_bytes()).group(1))
    write_key, read_key = jwt_key(data_dir, "jwt.signing"), jwt_key(data_dir, "jwt.signing.read")
    assert ATTACKER_KEY not in (write_key, read_key)
    existing = locked.fids[0]
    new_fid = f"{existing.split(',')[0]},{secrets.randbits(40):x}{secrets.randbits(32):08x}"
    body, headers = multipart_body(b"written with our key")

    def bearer(key: str, fid: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {fid_jwt(key, fid)}"}

    # The keys from ~/.seaweedfs and WEED_* are refused, for reads and for writes.
    assert http_request(volume_port, "GET", f"/{existing}", headers=bearer(ATTACKER_KEY, existing))[0] == 401
    assert http_request(volume_port, "POST", f"/{new_fid}", body, {**headers, **bearer(ATTACKER_KEY, new_fid)})[0] == 401
    assert http_request(volume_port, "DELETE", f"/{existing}", headers=bearer(ATTACKER_KEY, existing))[0] == 401
    # Control: tokens signed with this data dir's keys work, so the refusals above are about the key.
    status, stored = http_request(volume_port, "GET", f"/{existing}", headers=bearer(read_key, existing))
    assert status == 200 and stored in locked.objects.values()
    assert http_request(volume_port, "POST", f"/{new_fid}", body, {**headers, **bearer(write_key, new_fid)})[0] == 201
    assert http_request(volume_port, "GET", f"/{new_fid}", headers=bearer(read_key, new_fid)) == (200, b"written with our key")
    # A write token does not read, a read token does not write.
    assert http_request(volume_port, "GET", f"/{new_fid}", headers=bearer(write_key, new_fid))[0] == 401
    assert http_request(volume_port, "DELETE", f"/{new_fid}", headers=bearer(read_key, new_fid))[0] == 401
    assert http_request(volume_port, "DELETE", f"/{new_fid}", headers=bearer(write_key, new_fid))[0] == 202
    _assert_bucket_intact(locked)


def test_s3_with_keys_does_everything_the_pipeline_needs(locked: Locked) -> None:
    client, bucket, token = boto3_client(locked.settings), locked.settings.bucket, locked.token
    key = f"tmp/{token}/a.png"
    client.put_object(Bucket=bucket, Key=key, Body=b"first")
    with pytest.raises(ClientError) as conflict:
        client.put_object(Bucket=bucket, Key=key, Body=b"second", IfNoneMatch="*")
    assert conflict.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"first"
    client.copy_object(Bucket=bucket, Key=f"{key}.copy", CopySource={"Bucket": bucket, "Key": key})
    upload = client.create_multipart_upload(Bucket=bucket, Key=f"{key}.multi")
    part = client.upload_part(Bucket=bucket, Key=f"{key}.multi", UploadId=upload["UploadId"], PartNumber=1, Body=b"parts")
    client.complete_multipart_upload(Bucket=bucket, Key=f"{key}.multi", UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"tmp/{token}/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [key, f"{key}.copy", f"{key}.multi"]
    assert client.get_object(Bucket=bucket, Key=f"{key}.copy")["Body"].read() == b"first"
    assert client.get_object(Bucket=bucket, Key=f"{key}.multi")["Body"].read() == b"parts"
    for name in (key, f"{key}.copy", f"{key}.multi"):
        client.delete_object(Bucket=bucket, Key=name)
    assert client.list_objects_v2(Bucket=bucket, Prefix=f"tmp/{token}/").get("KeyCount") == 0


def test_secrets_are_private_and_the_ca_cannot_sign_again(locked: Locked) -> None:
    data_dir = locked.server.data_dir
    config = tomllib.loads((data_dir / "security.toml").read_text())
    keys = [jwt_key(data_dir, section) for section in JWT_SECTIONS]
    assert len(set(keys)) == 4 and all(len(k) >= 40 for k in keys)
    assert config["grpc"]["ca"] == "tls/ca.crt"
    ca, cert, key = client_tls_files(data_dir)
    for path in (data_dir / "security.toml", ca, cert, key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(ca.parent.stat().st_mode) == 0o700
    # Only the leaf key is on disk: the CA key was dropped after signing.
    private = [p.name for p in ca.parent.iterdir() if b"PRIVATE KEY" in p.read_bytes()]
    assert private == [key.name]
    leaf, authority = x509.load_pem_x509_certificate(cert.read_bytes()), x509.load_pem_x509_certificate(ca.read_bytes())
    leaf.verify_directly_issued_by(authority)


def test_security_config_is_kept_when_complete_and_rewritten_when_not(tmp_path: Path) -> None:
    first = ensure_security_config(tmp_path).read_text()
    assert ensure_security_config(tmp_path).read_text() == first  # restart: same keys
    (tmp_path / "tls" / "weed.key").unlink()  # e.g. a partly copied data dir
    second = ensure_security_config(tmp_path).read_text()
    assert second != first and (tmp_path / "tls" / "weed.key").is_file()
    (tmp_path / "security.toml").write_text("[jwt.signing]\nkey = \"\"\n")  # an older, weaker file
    third = ensure_security_config(tmp_path).read_text()
    assert third not in (first, second) and all(jwt_key(tmp_path, s) for s in JWT_SECTIONS)
    os.chmod(tmp_path / "security.toml", 0o644)
    ensure_security_config(tmp_path)
    assert stat.S_IMODE((tmp_path / "security.toml").stat().st_mode) == 0o600


def test_system_wide_seaweed_configs_stop_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "etc-seaweedfs"
    system.mkdir()
    (system / "security.toml").write_text(HOSTILE_TOML)  # shadowed by ours: allowed
    monkeypatch.setattr(seaweed_security, "SYSTEM_CONFIG_DIRS", (system,))
    assert seaweed_security.system_config_files() == []
    (system / "master.toml").write_text(HOSTILE_TOML)  # would be merged: refused
    try:
        started = start_local_s3(tmp_path / "s3")
    except LocalS3StartError as error:
        assert re.search(r"master\.toml would be merged", str(error)), error
    else:
        stop_local_s3(started)
        pytest.fail("started although a system-wide master.toml would be merged into its settings")
    assert not (tmp_path / "s3" / "weed.pid").exists()


def test_a_server_started_without_the_lockdown_is_never_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    data_dir.mkdir()
    (data_dir / "credentials.json").write_text(json.dumps({"access_key": "a", "secret_key": "b"}))
    # How the version before the lockdown started it (ports left to weed: it is stopped at once).
    log = tmp_path / "old.log"
    with open(log, "wb") as output:
        old = subprocess.Popen(
            [str(weed_binary()), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0"],
            cwd=data_dir, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        # Until exec completes, the child's /proc cmdline is still this Python's: on a busy machine
        # start_local_s3 could look before then, miss the old server and collide on its files.
        deadline = time.monotonic() + 120
        while Path(os.fsdecode(Path(f"/proc/{old.pid}/cmdline").read_bytes().split(b"\0")[0])).name != "weed":
            assert old.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        (data_dir / "weed.pid").write_text(json.dumps({"pid": old.pid, "endpoint_url": "http://127.0.0.1:1"}))
        assert find_running(data_dir) is None
        try:
            started = start_local_s3(data_dir)
        except LocalS3StartError as error:
            message = str(error)
        else:
            stop_local_s3(started)
            pytest.fail(f"started beside the old server (alive: {old.poll() is None}); its log:\n{log.read_text()}")
        assert re.search(rf"pid {old.pid} serves .* without the port lockdown.*kill {old.pid}", message), message
    finally:
        os.killpg(old.pid, 9)
        old.wait()
