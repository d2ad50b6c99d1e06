"""A local stand-in for the Application Insights ingestion endpoint (Breeze, ``/v2.1/track``).

Why: the real ``azure-monitor-opentelemetry-exporter`` can then run unchanged against loopback, and tests and
local queries see the same rows Azure would store, as JSON lines per table under ``<out_dir>/<table>.jsonl``.

Emulated: ``POST /v2.1/track`` and ``/v2/track`` with plain or gzip bodies holding a JSON array (or newline-delimited
JSON) of envelopes; the ``{"itemsReceived", "itemsAccepted", "errors"}`` answer (206 with per-item errors for
envelopes that are not objects with ``data.baseType``); the mapping of envelopes to the tables ``requests``,
``dependencies``, ``customEvents``, ``customMetrics``, ``traces`` and ``exceptions`` with their usual columns and
``itemCount`` from ``sampleRate``.

Instrumentation key: started with ``--ikey``, the endpoint refuses (per item, 400, as Breeze does for a key it does
not know) every envelope of another key; the exporter drops such items instead of retrying them. The local stack uses
a new key for every run, so envelopes an earlier run's exporter kept on disk and retries later are never stored.

Not emulated: authentication, throttling (429/439), ingestion-time columns
(``_ResourceId``, ``client_*`` geo columns, ``appName``), daily caps, Live Metrics (QuickPulse), availability
tables beyond a file named after their base type, and any retention or querying (see the KQL tooling for that).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

Row = dict[str, Any]
HOST = "127.0.0.1"
TRACK_PATHS = frozenset({"/v2.1/track", "/v2/track"})
MAX_BODY_BYTES = 64 * 1024 * 1024

# baseType -> (table, itemType)
TABLES: dict[str, tuple[str, str]] = {
    "RequestData": ("requests", "request"),
    "RemoteDependencyData": ("dependencies", "dependency"),
    "EventData": ("customEvents", "customEvent"),
    "MetricData": ("customMetrics", "customMetric"),
    "MessageData": ("traces", "trace"),
    "ExceptionData": ("exceptions", "exception"),
}
SEVERITY = {"Verbose": 0, "Information": 1, "Warning": 2, "Error": 3, "Critical": 4}
_DURATION = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_]")


class BadBody(ValueError):
    """The request body is not gzip/JSON envelopes: answered with 400."""


def parse_duration_ms(text: str | None) -> float | None:
    """Turn the exporter's ``d.hh:mm:ss.ffffff`` into milliseconds, the unit of the ``duration`` column."""
    match = _DURATION.match(text or "")
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    total_s = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return round(total_s * 1000.0, 6)


def decode_envelopes(raw: bytes, content_encoding: str = "") -> list[Any]:
    """Decode a track body: gzip (by header or magic bytes), then a JSON array, one object or JSON lines."""
    try:
        if "gzip" in content_encoding.lower() or raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise BadBody(f"cannot decode body: {exc}") from exc
    if not text.strip():
        raise BadBody("empty body")
    try:
        parsed = json.loads(text)
        return parsed if isinstance(parsed, list) else [parsed]
    except json.JSONDecodeError:
        pass
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise BadBody(f"body is neither a JSON array nor JSON lines: {exc}") from exc


def _common_columns(envelope: Row, item_type: str) -> Row:
    """Columns every Application Insights table has, taken from the envelope and its context tags."""
    tags = envelope.get("tags") or {}
    base = envelope["data"].get("baseData") or {}
    sample_rate = envelope.get("sampleRate") or 100.0
    return {
        "timestamp": envelope.get("time"),
        "itemType": item_type,
        "operation_Id": tags.get("ai.operation.id"),
        "operation_ParentId": tags.get("ai.operation.parentId"),
        "operation_Name": tags.get("ai.operation.name"),
        "cloud_RoleName": tags.get("ai.cloud.role"),
        "cloud_RoleInstance": tags.get("ai.cloud.roleInstance"),
        "user_Id": tags.get("ai.user.id"),
        "sdkVersion": tags.get("ai.internal.sdkVersion"),
        "itemCount": max(1, round(100.0 / float(sample_rate))),
        "customDimensions": dict(base.get("properties") or {}),
        "customMeasurements": dict(base.get("measurements") or {}),
    }


def _request_columns(base: Row) -> Row:
    return {
        "id": base.get("id"), "name": base.get("name"), "url": base.get("url"),
        "resultCode": base.get("responseCode"), "duration": parse_duration_ms(base.get("duration")),
        "success": base.get("success"), "source": base.get("source"),
    }


def _dependency_columns(base: Row) -> Row:
    return {
        "id": base.get("id"), "name": base.get("name"), "target": base.get("target"), "type": base.get("type"),
        "data": base.get("data"), "resultCode": base.get("resultCode"),
        "duration": parse_duration_ms(base.get("duration")), "success": base.get("success"),
    }


def _severity(value: Any) -> int | None:
    """Envelopes carry the level's name; the tables hold its number (0 Verbose .. 4 Critical)."""
    if value is None or isinstance(value, int):
        return value
    return SEVERITY.get(str(value))


def _exception_columns(base: Row) -> Row:
    details = list(base.get("exceptions") or [])
    outer = details[0] if details else {}
    return {
        "type": outer.get("typeName"), "outerMessage": outer.get("message"), "message": outer.get("message"),
        "problemId": base.get("problemId"), "severityLevel": _severity(base.get("severityLevel")),
        "details": details,
    }


def _event_columns(base: Row) -> Row:
    return {"name": base.get("name")}


def _trace_columns(base: Row) -> Row:
    return {"message": base.get("message"), "severityLevel": _severity(base.get("severityLevel"))}


def _other_columns(base: Row) -> Row:
    """Types without a table of their own keep their baseData whole, so nothing sent is lost."""
    return {"baseData": base}


_COLUMNS: dict[str, Callable[[Row], Row]] = {
    "RequestData": _request_columns,
    "RemoteDependencyData": _dependency_columns,
    "EventData": _event_columns,
    "MessageData": _trace_columns,
    "ExceptionData": _exception_columns,
}


def _metric_rows(common: Row, base: Row) -> list[Row]:
    """One row per data point, as the customMetrics table stores pre-aggregated metrics."""
    rows = []
    for point in base.get("metrics") or []:
        value = point.get("value")
        rows.append({
            **common, "name": point.get("name"), "value": value, "valueCount": point.get("count", 1),
            "valueSum": value, "valueMin": point.get("min", value), "valueMax": point.get("max", value),
            "valueStdDev": point.get("stdDev", 0.0),
        })
    return rows


def envelope_rows(envelope: Any, ikey: str | None = None) -> list[tuple[str, Row]]:
    """Map one envelope to ``(table, row)`` pairs; raises ValueError for an envelope that cannot be stored.

    With ``ikey``, an envelope of another instrumentation key cannot be stored either."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
        raise ValueError("envelope is not an object with a 'data' object")
    if ikey is not None and str(envelope.get("iKey", "")).lower() != ikey.lower():
        raise ValueError("envelope's iKey is not this endpoint's instrumentation key")
    base_type = envelope["data"].get("baseType")
    if not isinstance(base_type, str) or not base_type:
        raise ValueError("envelope has no data.baseType")
    table, item_type = TABLES.get(base_type, (_UNSAFE_NAME.sub("_", base_type), base_type))
    common = _common_columns(envelope, item_type)
    base = envelope["data"].get("baseData") or {}
    if base_type == "MetricData":
        return [(table, row) for row in _metric_rows(common, base)]
    columns = _COLUMNS.get(base_type, _other_columns)
    return [(table, {**common, **columns(base)})]


class TableWriter:
    """The one writer of ``<out_dir>/*.jsonl``: a lock keeps each request's lines whole and in order."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._files: dict[str, Any] = {}

    def append(self, rows: list[tuple[str, Row]]) -> None:
        """Append rows and flush, so readers in other processes see a request's rows once it is answered."""
        with self._lock:
            touched = set()
            for table, row in rows:
                handle = self._files.get(table)
                if handle is None:
                    handle = self._files[table] = open(self.out_dir / f"{table}.jsonl", "a", encoding="utf-8")
                handle.write(json.dumps(row, separators=(",", ":")) + "\n")
                touched.add(table)
            for table in touched:
                self._files[table].flush()

    def close(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()


class IngestServer(ThreadingHTTPServer):
    """ThreadingHTTPServer on loopback that owns the TableWriter."""

    daemon_threads = True

    def __init__(self, out_dir: Path, port: int = 0, ikey: str | None = None) -> None:
        self.writer = TableWriter(out_dir)
        self.ikey = ikey
        super().__init__((HOST, port), _TrackHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def server_close(self) -> None:
        super().server_close()
        self.writer.close()


class _TrackHandler(BaseHTTPRequestHandler):
    server: IngestServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's connection pool expects

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        if self.path.split("?", 1)[0] not in TRACK_PATHS:
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no such path: {self.path}"}, drain=True)
            return
        try:
            envelopes = decode_envelopes(self._read_body(), self.headers.get("Content-Encoding", ""))
        except BadBody as exc:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        rows, errors = [], []
        for index, envelope in enumerate(envelopes):
            try:
                rows.extend(envelope_rows(envelope, self.server.ikey))
            except (ValueError, TypeError, AttributeError) as exc:
                errors.append({"index": index, "statusCode": 400, "message": str(exc)})
        self.server.writer.append(rows)
        status = HTTPStatus.PARTIAL_CONTENT if errors else HTTPStatus.OK
        self._answer(status, {"itemsReceived": len(envelopes), "itemsAccepted": len(envelopes) - len(errors),
                              "errors": errors})

    def do_GET(self) -> None:  # noqa: N802
        self._answer(HTTPStatus.NOT_FOUND, {"error": "only POST /v2.1/track and /v2/track are served"})

    def _read_body(self) -> bytes:
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self.close_connection = True
            raise BadBody("a Content-Length header is required")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise BadBody(f"body larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length)

    def _answer(self, status: HTTPStatus, body: Row, drain: bool = False) -> None:
        if drain:
            length = self.headers.get("Content-Length", "0")
            self.rfile.read(int(length) if length.isdigit() else 0)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log only refused requests: one line per export would drown the stack's log."""
        if isinstance(code, int) and code >= 400:
            super().log_request(code, size)


def read_table(out_dir: Path | str, table: str) -> list[Row]:
    """All rows stored so far in one table (an unfinished last line is left for the next read)."""
    path = Path(out_dir) / f"{table}.jsonl"
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def wait_for_rows(
    out_dir: Path | str, table: str, predicate: Callable[[Row], bool] = lambda row: True, timeout: float = 10.0
) -> list[Row]:
    """Poll until some rows match: exports are asynchronous, so tests wait for the rows rather than sleep."""
    deadline = time.monotonic() + timeout
    while True:
        rows = read_table(out_dir, table)
        matching = [row for row in rows if predicate(row)]
        if matching:
            return matching
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no matching row in {table}.jsonl after {timeout:.1f}s ({len(rows)} rows in all)")
        time.sleep(0.05)


def _exit_on_signal(signum: int, _frame: Any) -> NoReturn:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """CLI: serve until SIGTERM/SIGINT; the READY line tells a parent process the bound port."""
    parser = argparse.ArgumentParser(prog="python -m local.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--out", type=Path, required=True, help="folder for <table>.jsonl files")
    parser.add_argument("--ikey", default=None, help="store only envelopes of this instrumentation key")
    args = parser.parse_args(argv)
    try:
        server = IngestServer(args.out, args.port, args.ikey)
    except OSError as exc:
        print(f"ingest: cannot listen on {HOST}:{args.port}: {exc}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _exit_on_signal)
    print(f"READY ingest {HOST}:{server.port} out={args.out}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
