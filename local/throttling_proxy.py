"""A fault injector for Cosmos DB throttling: an HTTP proxy that answers 429 when told to.

It is used only because the local Cosmos server (``@vercel/cosmosdb-server``) cannot produce real 429s, so nothing
local could otherwise show how the app behaves when Cosmos throttles (field case 9). It sits between the real
``azure-cosmos`` SDK and the real local Cosmos server, and everything is forwarded to the real server unchanged, with
one exception: after ``throttle_next(k, ...)`` the next ``k`` requests that match are answered by the proxy itself
with a 429 shaped like the one real Cosmos sends (``x-ms-retry-after-ms``, ``x-ms-substatus: 3200``,
``x-ms-request-charge: 0``, ``x-ms-activity-id`` and a ``TooManyRequests`` JSON body). Every retry the SDK makes after
a 429 goes to the real server like any other request. The only other knob, ``round_trip(ms, ...)``, holds matching
requests for a few milliseconds before forwarding them, standing for the network round trip to a remote Cosmos
account (the local server answers in about a millisecond, which hides how concurrent writers interleave in Azure).
It is a test tool; nothing in the app uses it.

It also records every request it sees (method, path, kind, partition key, the status it answered), so a test can count
what really went over the wire: how many times the SDK retried, which documents the writers touched.

    with ThrottlingProxy(upstream="http://127.0.0.1:8081") as proxy:
        gateway = CosmosGateway(proxy.url, key, database)
        proxy.throttle_next(3, method="GET", path_contains="/docs/")
        ...
        proxy.count("GET", "items/docs/{id}")

Loopback only, HTTP/1.1 keep-alive on both sides (one upstream connection per client connection), a free port, and
``stop()`` (or leaving the ``with`` block) closes every connection and joins every thread it started.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

HOST = "127.0.0.1"
RETRY_AFTER_MS = 5
"""Small, so that a test throttled up to the SDK's whole retry budget still runs in well under a second."""
THROTTLE_SUB_STATUS = 3200
"""Cosmos's sub-status for "request rate is large" (RU budget of the partition exhausted)."""
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
               "content-length"}
_IS_QUERY = "x-ms-documentdb-isquery"
_PARTITION_KEY = "x-ms-documentdb-partitionkey"


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it and the status it answered (``throttled``: answered by the proxy)."""

    method: str
    path: str
    kind: str
    partition_key: str | None
    status: int
    throttled: bool

    @property
    def name(self) -> str:
        """The path's last segment, unquoted: the document id of ``…/docs/{id}``."""
        return unquote(urlsplit(self.path).path.rstrip("/").rsplit("/", 1)[-1])


Predicate = Callable[[str, str], bool]
"""``(method, path) -> bool``: which requests a throttle (or a round trip) applies to."""


def _NOTHING(method: str, path: str) -> bool:  # noqa: N802
    return False


def _matching(method: str | None, path_contains: str | None, match: Predicate | None) -> Predicate:
    def predicate(m: str, p: str) -> bool:
        return ((method is None or m == method) and (path_contains is None or path_contains in p)
                and (match is None or match(m, p)))
    return predicate


def path_kind(path: str, *, query: bool = False) -> str:
    """The shape of a Cosmos REST path, ids replaced: ``/dbs/d/colls/c/docs/x`` -> ``c/docs/{id}``.

    Under a container the container's name is kept (``c/docs``, ``c/pkranges``) so counts can tell containers
    apart; database and document ids become ``{id}``. A query (``POST …/docs`` with ``x-ms-documentdb-isquery``)
    is ``c/docs#query``, so it is not counted as a create.
    """
    parts = [unquote(p) for p in urlsplit(path).path.strip("/").split("/") if p]
    if not parts:
        kind = "account"
    elif len(parts) > 4 and parts[2] == "colls":
        rest = parts[4:]
        kind = "/".join([parts[3], *(name if i % 2 == 0 else "{id}" for i, name in enumerate(rest))])
    else:
        kind = "/".join(name if i % 2 == 0 else "{id}" for i, name in enumerate(parts))
    return f"{kind}#query" if query else kind


class ThrottlingProxy:
    """Forward to ``upstream`` (``http://host:port`` of the real local Cosmos server); throttle on request."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        if target.scheme != "http" or not target.hostname or not target.port:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self._upstream = (target.hostname, target.port)
        self._lock = threading.Lock()
        self._pending = 0
        self._predicate: Predicate = _NOTHING
        self._delay_s = 0.0
        self._delayed: Predicate = _NOTHING
        self._seen: list[Seen] = []
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> ThrottlingProxy:
        if self._server is not None:
            raise RuntimeError("the proxy is already running")
        self._server = _Server(self)
        self._serve_thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                              name="throttling-proxy", daemon=True)
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every client connection (so keep-alive handlers end) and join every thread."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_all()
        server.server_close()
        assert self._serve_thread is not None
        self._serve_thread.join(timeout=5)

    def __enter__(self) -> ThrottlingProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return f"http://{HOST}:{self._server.server_address[1]}/"

    @property
    def threads(self) -> list[threading.Thread]:
        """Threads this proxy started that are still alive (empty after ``stop()``)."""
        server_threads = [] if self._server is None else self._server.live_threads()
        serving = [self._serve_thread] if self._serve_thread is not None and self._serve_thread.is_alive() else []
        return serving + server_threads

    # --- fault injection -------------------------------------------------------------------------------------

    def throttle_next(self, k: int, *, method: str | None = None, path_contains: str | None = None,
                      match: Predicate | None = None) -> None:
        """Answer 429 to the next ``k`` requests matching all given conditions (replaces any earlier setting)."""
        if k < 0:
            raise ValueError("k must be >= 0")
        with self._lock:
            self._pending, self._predicate = k, _matching(method, path_contains, match)

    def round_trip(self, ms: float, *, method: str | None = None, path_contains: str | None = None,
                   match: Predicate | None = None) -> None:
        """Hold every forwarded request matching all given conditions ``ms`` milliseconds (0: none) until reset."""
        if ms < 0:
            raise ValueError("ms must be >= 0")
        with self._lock:
            self._delay_s, self._delayed = ms / 1000, _matching(method, path_contains, match)

    def _delay_for(self, method: str, path: str) -> float:
        with self._lock:
            return self._delay_s if self._delay_s and self._delayed(method, path) else 0.0

    @property
    def throttles_pending(self) -> int:
        with self._lock:
            return self._pending

    def _should_throttle(self, method: str, path: str) -> bool:
        with self._lock:
            if self._pending > 0 and self._predicate(method, path):
                self._pending -= 1
                return True
            return False

    # --- what went over the wire -----------------------------------------------------------------------------

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def counts(self) -> Counter[tuple[str, str]]:
        """Requests per ``(method, path kind)`` since the last ``reset()``."""
        return Counter((s.method, s.kind) for s in self.seen)

    def count(self, method: str, kind: str) -> int:
        return self.counts()[(method, kind)]

    def reset(self) -> None:
        """Forget what was seen; cancel pending throttles and round trips."""
        with self._lock:
            self._seen.clear()
            self._pending, self._predicate = 0, _NOTHING
            self._delay_s, self._delayed = 0.0, _NOTHING


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() closes the connections and joins the handler threads itself

    def __init__(self, proxy: ThrottlingProxy) -> None:
        self.proxy = proxy
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__((HOST, 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True,
                                  name="throttling-proxy-connection")
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def _handle(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)

    def live_threads(self) -> list[threading.Thread]:
        with self._connections_lock:
            return [t for t in self._connections.values() if t.is_alive()]

    def close_all(self) -> None:
        with self._connections_lock:
            connections = dict(self._connections)
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client
        for thread in connections.values():
            thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses its connections, as it does with real Cosmos
    disable_nagle_algorithm = True  # headers and body are two writes: without this, each answer waits ~40 ms
    server: _Server
    _upstream: http.client.HTTPConnection | None = None

    def handle(self) -> None:
        try:
            super().handle()
        finally:
            if self._upstream is not None:
                self._upstream.close()

    def _forward_or_throttle(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        query = self.command == "POST" and (self.headers.get(_IS_QUERY) or "").lower() == "true"
        kind = path_kind(self.path, query=query)
        pk = self.headers.get(_PARTITION_KEY)
        # Recorded before the answer is written, so whoever got the answer also finds the request in ``seen``.
        if proxy._should_throttle(self.command, self.path):  # noqa: SLF001 (one module)
            proxy._record(Seen(self.command, self.path, kind, pk, 429, True))  # noqa: SLF001
            self._answer_throttled()
            return
        if delay := proxy._delay_for(self.command, self.path):  # noqa: SLF001
            time.sleep(delay)
        response, payload = self._forward(body)
        proxy._record(Seen(self.command, self.path, kind, pk, response.status, False))  # noqa: SLF001
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward_or_throttle  # noqa: N815

    def _read_body(self) -> bytes | None:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _forward(self, body: bytes | None) -> tuple[http.client.HTTPResponse, bytes]:
        reused = self._upstream is not None
        try:
            return self._exchange(body)
        except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
            if not reused:
                raise
            # The server closed an idle keep-alive connection just as we reused it (Node's keepAliveTimeout):
            # the request never reached it, so send it once more on a fresh connection. Transport only: every
            # answer the server gives, 429 and 5xx included, goes back to the SDK unchanged.
            return self._exchange(body)

    def _exchange(self, body: bytes | None) -> tuple[http.client.HTTPResponse, bytes]:
        if self._upstream is None:
            self._upstream = http.client.HTTPConnection(*self.server.proxy._upstream, timeout=30)  # noqa: SLF001
        conn = self._upstream
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            return response, response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._upstream = None
            raise

    def _answer_throttled(self) -> None:
        payload = json.dumps({
            "code": "TooManyRequests",
            "message": "Message: {\"Errors\":[\"Request rate is large. More Request Units may be needed, so no "
                       "changes were made. Please retry this request later.\"]} (injected by local/throttling_proxy)",
        }).encode()
        self.send_response(429, "Too Many Requests")
        self.send_header("Content-Type", "application/json")
        self.send_header("x-ms-retry-after-ms", str(RETRY_AFTER_MS))
        self.send_header("x-ms-substatus", str(THROTTLE_SUB_STATUS))
        self.send_header("x-ms-request-charge", "0")
        self.send_header("x-ms-activity-id", self.headers.get("x-ms-activity-id") or str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        pass  # quiet: the proxy's record is ``seen``
