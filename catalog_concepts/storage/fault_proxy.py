"""A fault-injecting HTTP/1.1 proxy in front of an S3 endpoint: a test and benchmark double, never used in production.

It listens on a free 127.0.0.1 port, in a background thread with its own asyncio loop, and
forwards each HTTP request to the real S3 server (the embedded SeaweedFS), or injects one of
the three faults a network and S3 really produce:

- reset: the connection is reset before the request reaches the server;
- slowdown: the proxy answers a valid S3 `503 SlowDown` error itself and closes the connection;
- drop: the request is forwarded and applied by the server, then the connection is reset
  before the client hears the answer (a lost response).

Decisions are per request, not per connection, because boto3 keeps connections alive: the
proxy parses just enough HTTP/1.1 (request line, headers, a Content-Length or chunked body)
to find where each request and response ends. It answers `Expect: 100-continue` itself and
strips the header upstream (SigV4 never signs `Expect`), so a fault can be decided before
the client sends the body.

Each decision is a pure function of (seed, method, request target, how many times this
method and target were seen before): the fault pattern of a run does not depend on how
its threads interleave, and a retry of the same request is a fresh draw.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import struct
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

HOST = "127.0.0.1"
FORWARD, RESET, SLOWDOWN, DROP = "forward", "reset", "slowdown", "drop"
FAULT_KINDS: tuple[str, ...] = (RESET, SLOWDOWN, DROP)
# S3 request heads are a few KiB; a 1 MiB line limit only guards against a runaway peer.
_STREAM_LIMIT = 1 << 20
# After a 503 the proxy half-closes and waits this long for the client to hang up, so the
# client reads the answer instead of a reset caused by unread bytes.
_LINGER_AFTER_ERROR_S = 10.0
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per eligible request; their sum is at most 1."""

    reset: float = 0.0
    slowdown: float = 0.0
    drop: float = 0.0

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            value = getattr(self, kind)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {kind}={value!r}: expected a number in [0, 1]")
        if self.total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {self.total:.3f}; at most 1 of every request can fail")

    @property
    def total(self) -> float:
        """Probability that an eligible request meets any fault."""
        return self.reset + self.slowdown + self.drop

    @classmethod
    def mixed(cls, total: float) -> FaultRates:
        """The three faults in equal shares adding up to total."""
        return cls(reset=total / 3, slowdown=total / 3, drop=total / 3)


@dataclass(frozen=True)
class FaultCounts:
    """What the proxy did so far: requests seen, forwarded, and each fault injected (with by-method detail)."""

    requests: int = 0
    forwarded: int = 0
    reset: int = 0
    slowdown: int = 0
    drop: int = 0
    # Upstream connections that broke on their own: not injected, so a test can demand zero.
    upstream_errors: int = 0
    by_method: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def faults(self) -> int:
        """All injected faults together."""
        return self.reset + self.slowdown + self.drop


@dataclass
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    lines: list[bytes]

    def header(self, name: str) -> str:
        """The last value of a header (case-insensitive), or ""."""
        values = [v for k, v in self.headers if k.lower() == name]
        return values[-1].strip() if values else ""

    def upstream_head(self) -> bytes:
        """The request head as sent upstream: unchanged but for the Expect header the proxy answered."""
        kept = [line for line in self.lines[1:] if not line.lower().startswith(b"expect:")]
        return b"\r\n".join([self.lines[0], *kept]) + b"\r\n\r\n"


class FaultProxy:
    """Loopback proxy that forwards S3 requests to `upstream_url` or fails them at the given rates (seeded)."""

    def __init__(
        self,
        upstream_url: str,
        rates: FaultRates = FaultRates(),
        *,
        seed: int = 0,
        methods: Iterable[str] | None = None,
    ):
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, got {upstream_url!r}")
        if not isinstance(rates, FaultRates):
            raise TypeError(f"rates must be a FaultRates, got {type(rates).__name__}")
        self.upstream_url = upstream_url
        self.rates = rates
        self.seed = seed
        # None: every method is eligible for faults; otherwise only these (e.g. {"PUT"}).
        self.methods = None if methods is None else frozenset(m.upper() for m in methods)
        self._upstream = (parts.hostname, parts.port)
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._upstream_errors = 0
        self._seen: Counter[tuple[str, str]] = Counter()
        self._connections: set[asyncio.Task] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise RuntimeError(f"fault proxy did not start within {_START_TIMEOUT_S:.0f} s")
        if self._start_error is not None:
            raise RuntimeError(f"fault proxy could not listen on {HOST}: {self._start_error}") from self._start_error

    @property
    def endpoint_url(self) -> str:
        """The URL clients use instead of the upstream's."""
        return f"http://{HOST}:{self.port}"

    def counts(self) -> FaultCounts:
        """A consistent snapshot of the counters."""
        with self._lock:
            counts, upstream_errors = Counter(self._counts), self._upstream_errors
        by_method: dict[str, dict[str, int]] = {}
        for (outcome, method), n in counts.items():
            by_method.setdefault(method, {})[outcome] = n
        totals: Counter[str] = Counter()
        for (outcome, _), n in counts.items():
            totals[outcome] += n
        return FaultCounts(
            requests=sum(counts.values()), forwarded=totals[FORWARD], reset=totals[RESET],
            slowdown=totals[SLOWDOWN], drop=totals[DROP], upstream_errors=upstream_errors, by_method=by_method,
        )

    def close(self) -> None:
        """Stop listening, cut open connections and end the proxy's thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            future.result(_STOP_TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_STOP_TIMEOUT_S)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- the loop thread ---------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._accept, HOST, 0, limit=_STREAM_LIMIT)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as error:
            self._start_error = error
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # asyncio runs every connection callback inside a task
        self._connections.add(task)
        try:
            await self._serve(client_r, client_w)
        except asyncio.CancelledError:
            # close() cancels open connections; returning normally keeps asyncio.streams (3.11)
            # from logging each cancelled connection task as an unhandled error.
            pass
        finally:
            self._connections.discard(task)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        """Handle one client connection: its requests one after another (boto3 never pipelines)."""
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                request = await _read_request_head(client_r)
                if request is None:
                    return  # the client closed between requests
                outcome = self._decide(request.method, request.target)
                expects_continue = request.header("expect").lower() == "100-continue"
                if outcome == RESET and expects_continue:
                    self._count(RESET, request.method)
                    return _reset(client_w)
                if outcome == SLOWDOWN and expects_continue:
                    # A final answer instead of 100 Continue: the client never sends the body.
                    self._count(SLOWDOWN, request.method)
                    return await _answer_slowdown(client_r, client_w, request)
                if expects_continue:
                    client_w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await client_w.drain()
                body = await _read_body(client_r, request.header("transfer-encoding"), request.header("content-length"))
                if outcome == RESET:
                    self._count(RESET, request.method)
                    return _reset(client_w)
                if outcome == SLOWDOWN:
                    self._count(SLOWDOWN, request.method)
                    return await _answer_slowdown(client_r, client_w, request)

                if upstream is None or upstream[0].at_eof() or upstream[1].is_closing():
                    if upstream is not None:
                        upstream[1].close()
                    upstream = await asyncio.open_connection(*self._upstream, limit=_STREAM_LIMIT)
                try:
                    upstream[1].write(request.upstream_head() + body)
                    await upstream[1].drain()
                    response, closes = await _read_response(upstream[0], request.method)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                    with self._lock:
                        self._upstream_errors += 1
                    return _reset(client_w)
                if outcome == DROP:
                    # The server has answered, so it applied the request; the client never hears it.
                    self._count(DROP, request.method)
                    return _reset(client_w)
                client_w.write(response)
                await client_w.drain()
                self._count(FORWARD, request.method)
                if closes or request.header("connection").lower() == "close":
                    return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return  # the client went away or spoke something that is not HTTP/1.1
        finally:
            if upstream is not None:
                upstream[1].close()
            if not client_w.is_closing():
                client_w.close()

    def _decide(self, method: str, target: str) -> str:
        """forward, reset, slowdown or drop for this request; a pure function of seed, request and repeat count."""
        if self.methods is not None and method not in self.methods:
            return FORWARD
        with self._lock:
            nth = self._seen[(method, target)]
            self._seen[(method, target)] += 1
        draw = _uniform(self.seed, method, target, nth)
        for kind in FAULT_KINDS:
            rate = getattr(self.rates, kind)
            if draw < rate:
                return kind
            draw -= rate
        return FORWARD

    def _count(self, outcome: str, method: str) -> None:
        with self._lock:
            self._counts[(outcome, method)] += 1


def _uniform(seed: int, method: str, target: str, nth: int) -> float:
    """A number in [0, 1) fixed by its inputs (SHA-256 of them, first 8 bytes)."""
    digest = hashlib.sha256(f"{seed}\n{method}\n{target}\n{nth}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


async def _read_request_head(reader: asyncio.StreamReader) -> _Request | None:
    """The next request's line and headers, or None at a clean end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            return None
        raise
    lines = head[:-4].split(b"\r\n")
    method, target, _version = lines[0].decode("latin-1").split(" ", 2)
    return _Request(method=method.upper(), target=target, headers=_parse_headers(lines[1:]), lines=lines)


def _parse_headers(lines: list[bytes]) -> list[tuple[str, str]]:
    headers = []
    for line in lines:
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line[:80]!r}")
        headers.append((name.strip(), value.strip()))
    return headers


async def _read_body(reader: asyncio.StreamReader, transfer_encoding: str, content_length: str) -> bytes:
    """A message body as it travels on the wire (chunked framing kept), or b"" when there is none."""
    if "chunked" in transfer_encoding.lower():
        return await _read_chunked(reader)
    if content_length:
        return await reader.readexactly(int(content_length))
    return b""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """The raw bytes of a chunked body, through the last chunk and its trailers."""
    parts = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        parts.append(size_line)
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while True:  # trailers, then an empty line
                trailer = await reader.readuntil(b"\r\n")
                parts.append(trailer)
                if trailer == b"\r\n":
                    return b"".join(parts)
        parts.append(await reader.readexactly(size + 2))  # the chunk and its CRLF


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[bytes, bool]:
    """The server's final response (interim 1xx answers skipped) and whether the connection ends after it."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        if not 100 <= status < 200:
            break
    headers = _parse_headers(lines[1:])

    def header(name: str) -> str:
        values = [v for k, v in headers if k.lower() == name]
        return values[-1] if values else ""

    closes = header("connection").lower() == "close"
    if method == "HEAD" or status in (204, 304):
        return head, closes
    transfer_encoding, content_length = header("transfer-encoding"), header("content-length")
    if "chunked" in transfer_encoding.lower() or content_length:
        return head + await _read_body(reader, transfer_encoding, content_length), closes
    return head + await reader.read(), True  # no framing: the body ends when the server closes


async def _answer_slowdown(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, request: _Request) -> None:
    """Answer S3's throttling error, then close gracefully so the client reads it rather than a reset."""
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
        f"<Resource>{escape(request.target)}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()
    head = (
        "HTTP/1.1 503 Slow Down\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amz-request-id: {request_id}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    client_w.write(head if request.method == "HEAD" else head + body)
    await client_w.drain()
    if client_w.can_write_eof():
        client_w.write_eof()
    # Whatever the client still sends (a body it sent without waiting for 100 Continue) is read
    # and dropped until it hangs up: closing with unread bytes would reset the connection.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_discard_until_eof(client_r), _LINGER_AFTER_ERROR_S)


async def _discard_until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0), the way a crashed peer or middlebox does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed by the peer: nothing left to reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
