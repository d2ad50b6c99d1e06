"""The HTTP side of the local host: ASP.NET-style route templates and a loopback server.

Route matching follows what the Functions host does with `route` templates: case-insensitive
literals, `{name}`, typed constraints, a trailing `{*rest}` catch-all, and literal-first
precedence. The server also answers the Core Tools admin endpoints drivers use.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import azure.functions as func

from local.host_model import FunctionInfo, HostStartError

log = logging.getLogger("local.host")

_INT_RANGES = {"int": 2**31, "long": 2**63}
_CONSTRAINTS: dict[str, str] = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "guid": r"\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
}
_PARAM = re.compile(r"^\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?\}$")


@dataclass(frozen=True)
class _Segment:
    literal: str | None = None
    name: str | None = None
    constraint: str | None = None
    catch_all: bool = False

    @property
    def rank(self) -> int:
        """Precedence as ASP.NET orders templates: literal, constrained, plain, catch-all."""
        if self.literal is not None:
            return 0
        if self.catch_all:
            return 3
        return 1 if self.constraint else 2


@dataclass(frozen=True)
class Route:
    """A compiled route template bound to its function."""

    info: FunctionInfo
    segments: tuple[_Segment, ...]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Route values (decoded strings, as the host passes them) if the path fits, else None."""
        values: dict[str, str] = {}
        for i, seg in enumerate(self.segments):
            if seg.catch_all:
                values[seg.name or ""] = "/".join(urllib.parse.unquote(p) for p in parts[i:])
                return values
            if i >= len(parts):
                return None
            part = urllib.parse.unquote(parts[i])
            if seg.literal is not None:
                if part.lower() != seg.literal.lower():
                    return None
            elif not _fits(part, seg.constraint):
                return None
            else:
                values[seg.name or ""] = part
        return values if len(parts) == len(self.segments) else None

    def allows(self, method: str) -> bool:
        return not self.info.methods or method in self.info.methods


def _fits(value: str, constraint: str | None) -> bool:
    if value == "":
        return False
    if constraint is None:
        return True
    if not re.fullmatch(_CONSTRAINTS[constraint], value):
        return False
    limit = _INT_RANGES.get(constraint)
    return limit is None or -limit <= int(value) < limit


def compile_route(info: FunctionInfo) -> Route:
    """Compile a function's route template; syntax we do not implement fails at start, by name."""
    template = (info.route or info.name).strip("/")
    segments = []
    parts = template.split("/") if template else []
    for i, part in enumerate(parts):
        if "{" not in part and "}" not in part:
            segments.append(_Segment(literal=part))
            continue
        match = _PARAM.match(part)
        if not match:
            raise HostStartError(f"function '{info.name}': route segment '{part}' is not supported locally")
        star, name, constraint = match.groups()
        if constraint and constraint.lower() not in _CONSTRAINTS:
            raise HostStartError(f"function '{info.name}': route constraint '{constraint}' is not supported locally")
        if star and i != len(parts) - 1:
            raise HostStartError(f"function '{info.name}': catch-all '{part}' must be the last segment")
        constraint = constraint.lower() if constraint else None
        segments.append(_Segment(name=name, constraint=constraint, catch_all=bool(star)))
    return Route(info, tuple(segments))


class RouteTable:
    """All HTTP functions, ordered by precedence so the most specific template wins."""

    def __init__(self, functions: list[FunctionInfo], prefix: str) -> None:
        routes = [compile_route(f) for f in functions]
        self.routes = sorted(routes, key=lambda r: [s.rank for s in r.segments])
        self.prefix = prefix.strip("/")

    def find(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, values, []) on a match; (None, {}, allowed) when only other methods match; else (None, {}, [])."""
        parts = self._relative(path)
        allowed: list[str] = []
        if parts is None:
            return None, {}, allowed
        for route in self.routes:
            values = route.match(parts)
            if values is None:
                continue
            if route.allows(method):
                return route, values, []
            allowed += [m for m in route.info.methods if m not in allowed]
        return None, {}, allowed

    def _relative(self, path: str) -> list[str] | None:
        parts = [p for p in path.split("/") if p]
        if not self.prefix:
            return parts
        prefix = self.prefix.split("/")
        if [p.lower() for p in parts[: len(prefix)]] != [p.lower() for p in prefix]:
            return None
        return parts[len(prefix):]


class Frontend(Protocol):
    """What the HTTP server needs from the host."""

    routes: RouteTable

    def run_http(self, route: Route, request: func.HttpRequest,
                 headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]: ...

    def admin(self, method: str, path: str, body: bytes) -> tuple[int, Any] | None: ...


class _Server(ThreadingHTTPServer):
    """Threaded server that joins its handler threads on close and can cut idle keep-alive sockets."""

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], frontend: Frontend) -> None:
        self.frontend = frontend
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Unblock handlers waiting on idle keep-alive connections so close() can join them."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class HttpServer:
    """Owns the listening socket and the serve_forever thread."""

    def __init__(self, port: int, frontend: Frontend) -> None:
        self._server = _Server(("127.0.0.1", port), frontend)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                         name=f"local.host-http-{self.port}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, drop idle connections, wait for in-progress requests, release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.cut_connections()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    """Translate one HTTP exchange into a function or admin call."""

    protocol_version = "HTTP/1.1"
    server_version = "local.host"
    sys_version = ""
    timeout = 30  # idle keep-alive connections close after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature fixed by stdlib
        log.debug("http %s", format % args)

    def _dispatch(self) -> None:
        try:
            self._dispatch_unguarded()
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception:  # a host bug must still answer, as Kestrel would, and show in the log
            log.exception("http dispatch failed path=%s", self.path)
            self.close_connection = True
            self._reply(500, [], b"")

    def _dispatch_unguarded(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self._read_body()
        if body is None:
            return
        frontend = self.server.frontend
        admin = frontend.admin(self.command, url.path, body) if url.path.lower().startswith("/admin/") else None
        if admin is not None:
            status, payload = admin
            data = json.dumps(payload).encode() if payload is not None else b""
            self._reply(status, [("Content-Type", "application/json")] if payload is not None else [], data)
            return
        route, values, allowed = frontend.routes.find(self.command, url.path)
        if route is None:
            if allowed:
                self._reply(405, [("Allow", ", ".join(allowed))], b"")
            else:
                self._reply(404, [], b"")
            return
        headers = _header_dict(self.headers)
        request = func.HttpRequest(
            method=self.command,
            url=f"http://{self.headers.get('Host') or '127.0.0.1'}{self.path}",
            headers=headers,
            params=_query(url.query),
            route_params=values,
            body=body,
        )
        self._reply(*frontend.run_http(route, request, headers))

    def _read_body(self) -> bytes | None:
        """Request body by Content-Length or chunked encoding; None if the request was malformed."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._reply(400, [], b"")
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


def _header_dict(headers: Any) -> dict[str, str]:
    """Repeated headers joined with ', ' as ASP.NET presents them."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _query(query: str) -> dict[str, str]:
    """Query parameters; repeated keys joined with ',' as the host's StringValues.ToString() does."""
    out: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def response_parts(value: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of what an HTTP function returned, like the worker's http converter."""
    if isinstance(value, func.HttpResponse):
        headers = [(k, v) for k, v in value.headers.items()]
        if not any(k.lower() == "content-type" for k, _ in headers):
            mimetype = value.mimetype or "text/plain"
            ct = f"{mimetype}; charset={value.charset}" if mimetype.startswith("text/") else mimetype
            headers.append(("Content-Type", ct))
        return value.status_code, headers, value.get_body() or b""
    if isinstance(value, str):
        return 200, [("Content-Type", "text/plain; charset=utf-8")], value.encode("utf-8")
    if isinstance(value, bytes):
        return 200, [("Content-Type", "application/octet-stream")], value
    if value is None:
        return 204, [], b""
    raise TypeError(f"an HTTP function returned {type(value).__name__}; expected func.HttpResponse or str")

