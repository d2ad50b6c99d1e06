"""The local ingest endpoint fed by the real azure-monitor-opentelemetry-exporter, as the function app will feed it.

Why: the rows in <out>/<table>.jsonl are what local queries and tests read, so they must match what the exporter
sends and what Application Insights would store (ids, parents, names, durations, dimensions, itemCount).
"""

from __future__ import annotations

import gzip
import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter, AzureMonitorTraceExporter
from opentelemetry import trace
from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind

from local.ingest import parse_duration_ms, read_table, wait_for_rows

ROOT = Path(__file__).resolve().parent.parent
QUIET_EXPORTER_ENV = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
}
MS = 1_000_000  # nanoseconds
IKEY = "3f2b8c1e-7a4d-4e9b-9c5f-1d2e3f4a5b6c"


@dataclass(frozen=True)
class Ingest:
    port: int
    out_dir: Path
    process: subprocess.Popen[str]

    @property
    def connection_string(self) -> str:
        return f"InstrumentationKey={IKEY};IngestionEndpoint=http://127.0.0.1:{self.port}/"


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    """The server through its CLI, as LocalStack runs it; the READY line gives the port it bound."""
    out_dir = tmp_path_factory.mktemp("telemetry")
    process = subprocess.Popen(
        [sys.executable, "-m", "local.ingest", "--port", "0", "--out", str(out_dir), "--ikey", IKEY],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    ready = process.stdout.readline()
    assert ready.startswith("READY ingest 127.0.0.1:"), ready
    yield Ingest(int(ready.split()[2].rsplit(":", 1)[1]), out_dir, process)
    process.terminate()
    assert process.wait(timeout=5) == 0


@pytest.fixture(scope="module")
def exported(ingest: Ingest) -> dict[str, str]:
    """Export one SERVER span, a CLIENT (database) child span and a custom-event log record inside the server span."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in QUIET_EXPORTER_ENV.items():
            env.setenv(name, value)
        return _export_sample(ingest.connection_string)


def _export_sample(connection_string: str) -> dict[str, str]:
    resource = Resource.create({"service.name": "ingest-test", "service.instance.id": "instance-1"})
    tracer_provider = TracerProvider(resource=resource, sampler=ALWAYS_ON)
    tracer_provider.add_span_processor(SimpleSpanProcessor(AzureMonitorTraceExporter(
        connection_string=connection_string, disable_offline_storage=True, tracer_provider=tracer_provider)))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(AzureMonitorLogExporter(
        connection_string=connection_string, disable_offline_storage=True)))
    try:
        return _emit(tracer_provider.get_tracer("test_ingest"), logger_provider.get_logger("test_ingest.events"))
    finally:
        tracer_provider.shutdown()
        logger_provider.shutdown()


def _emit(tracer: trace.Tracer, logger: Logger) -> dict[str, str]:
    start = time.time_ns()
    server = tracer.start_span("GET /api/things", kind=SpanKind.SERVER, start_time=start, attributes={
        "http.request.method": "GET", "url.scheme": "http", "url.path": "/api/things", "server.address": "localhost",
        "server.port": 7071, "http.route": "/api/things", "http.response.status_code": 200,
        "app.thing_id": "t-1", "_MS.sampleRate": 25.0,
    })
    with trace.use_span(server, end_on_exit=False):
        client = tracer.start_span("read item", kind=SpanKind.CLIENT, start_time=start + 1 * MS, attributes={
            "db.system": "cosmosdb", "db.name": "testdb", "db.operation": "read_item",
            "db.statement": "SELECT * FROM c WHERE c.id = @id", "server.address": "127.0.0.1", "server.port": 8081,
            "app.partition": "p1",
        })
        client.end(end_time=start + 13 * MS)
        logger.emit(body="thing happened", severity_number=SeverityNumber.INFO,
                    attributes={"microsoft.custom_event.name": "Test.Thing.Happened", "app.thing_id": "t-1"})
    server.end(end_time=start + 250 * MS)
    return {
        "trace_id": format(server.get_span_context().trace_id, "032x"),
        "server_id": format(server.get_span_context().span_id, "016x"),
        "client_id": format(client.get_span_context().span_id, "016x"),
    }


def test_request_row(ingest: Ingest, exported: dict[str, str]) -> None:
    [row] = wait_for_rows(ingest.out_dir, "requests", lambda r: r["operation_Id"] == exported["trace_id"])
    assert row["itemType"] == "request"
    assert row["id"] == exported["server_id"]
    assert row["operation_ParentId"] is None  # a root span has no parent
    assert row["name"] == row["operation_Name"] == "GET /api/things"
    assert row["url"] == "http://localhost:7071/api/things"
    assert row["resultCode"] == "200" and row["success"] is True
    assert row["duration"] == 250.0
    assert row["itemCount"] == 4  # sampleRate 25 %
    assert row["customDimensions"] == {"app.thing_id": "t-1"}
    assert row["cloud_RoleName"] == "ingest-test" and row["cloud_RoleInstance"] == "instance-1"
    assert row["sdkVersion"].endswith(":ext1.0.0b58")
    assert row["timestamp"].endswith("Z")


def test_dependency_row(ingest: Ingest, exported: dict[str, str]) -> None:
    [row] = wait_for_rows(ingest.out_dir, "dependencies", lambda r: r["operation_Id"] == exported["trace_id"])
    assert row["itemType"] == "dependency"
    assert row["id"] == exported["client_id"]
    assert row["operation_ParentId"] == exported["server_id"]
    assert row["name"] == "read item"
    assert row["type"] == "cosmosdb"
    assert row["target"] == "127.0.0.1:8081|testdb"
    assert row["data"] == "SELECT * FROM c WHERE c.id = @id"
    assert row["duration"] == 12.0
    assert row["success"] is True and row["itemCount"] == 1
    assert row["customDimensions"] == {"app.partition": "p1"}


def test_custom_event_row_is_correlated(ingest: Ingest, exported: dict[str, str]) -> None:
    """The exporter's customEvents carry the active span's trace id and span id (checked with 1.0.0b58)."""
    [row] = wait_for_rows(ingest.out_dir, "customEvents", lambda r: r["operation_Id"] == exported["trace_id"])
    assert row["itemType"] == "customEvent"
    assert row["name"] == "Test.Thing.Happened"
    assert row["operation_ParentId"] == exported["server_id"]
    assert row["customDimensions"] == {"app.thing_id": "t-1", "logger_name": "test_ingest.events"}
    assert row["cloud_RoleName"] == "ingest-test" and row["itemCount"] == 1


def test_resource_metric_row(ingest: Ingest, exported: dict[str, str]) -> None:
    """The trace exporter also sends its _OTELRESOURCE_ metric: one customMetrics row per data point."""
    rows = wait_for_rows(ingest.out_dir, "customMetrics", lambda r: r["name"] == "_OTELRESOURCE_")
    assert rows[0]["itemType"] == "customMetric"
    assert rows[0]["value"] == rows[0]["valueSum"] == 0
    assert rows[0]["valueCount"] == 1
    assert rows[0]["cloud_RoleName"] == "ingest-test"
    assert rows[0]["customDimensions"]["service.name"] == "ingest-test"


def _post(port: int, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/v2.1/track", body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("body, headers", [
    (b"{not json", {}),
    (b"\x1f\x8b\x08garbage", {"Content-Encoding": "gzip"}),
    (b"\xff\xfe\xfa", {}),
    (b"", {}),
])
def test_malformed_body_is_400_and_server_lives(ingest: Ingest, body: bytes, headers: dict[str, str]) -> None:
    status, answer = _post(ingest.port, body, headers)
    assert status == 400
    assert isinstance(answer["error"], str) and answer["error"]
    assert ingest.process.poll() is None
    status, answer = _post(ingest.port, b"[]")
    assert (status, answer) == (200, {"itemsReceived": 0, "itemsAccepted": 0, "errors": []})


def test_newline_delimited_gzip_and_bad_items(ingest: Ingest) -> None:
    """NDJSON + gzip as some SDKs send; an item that is no envelope is refused alone (206), the rest stored."""
    envelopes = [
        {"iKey": IKEY, "time": "2030-01-01T00:00:00.000000Z", "sampleRate": 50.0,
         "tags": {"ai.operation.id": "op-ndjson"},
         "data": {"baseType": "MessageData", "baseData": {"message": "hello", "severityLevel": "Warning"}}},
        {"iKey": IKEY, "time": "2030-01-01T00:00:01.000000Z", "tags": {"ai.operation.id": "op-ndjson"},
         "data": {"baseType": "AvailabilityData", "baseData": {"name": "ping", "success": True}}},
        42,
    ]
    body = gzip.compress("\n".join(json.dumps(e) for e in envelopes).encode())
    status, answer = _post(ingest.port, body, {"Content-Encoding": "gzip"})
    assert status == 206
    assert answer["itemsReceived"] == 3 and answer["itemsAccepted"] == 2
    assert [error["index"] for error in answer["errors"]] == [2]
    [trace_row] = [r for r in read_table(ingest.out_dir, "traces") if r["operation_Id"] == "op-ndjson"]
    assert (trace_row["message"], trace_row["severityLevel"], trace_row["itemCount"]) == ("hello", 2, 2)
    [other] = read_table(ingest.out_dir, "AvailabilityData")
    assert other["baseData"] == {"name": "ping", "success": True}


def test_envelopes_of_another_instrumentation_key_are_refused_alone(ingest: Ingest) -> None:
    """What an earlier run's exporter kept on disk and retries now carries that run's key: never stored here."""
    def envelope(ikey: str, operation: str) -> dict[str, object]:
        return {"iKey": ikey, "time": "2030-01-01T00:00:02.000000Z", "tags": {"ai.operation.id": operation},
                "data": {"baseType": "EventData", "baseData": {"name": "Stale.Event.Retried"}}}

    stale = "00000000-0000-0000-0000-000000000000"
    status, answer = _post(ingest.port, json.dumps([envelope(stale, "op-stale"), envelope(IKEY.upper(), "op-this"),
                                                     envelope("", "op-keyless")]).encode())
    assert status == 206
    assert answer["itemsAccepted"] == 1 and [e["index"] for e in answer["errors"]] == [0, 2]
    assert all(e["statusCode"] == 400 for e in answer["errors"])
    events = read_table(ingest.out_dir, "customEvents")
    stored = [r["operation_Id"] for r in events if r["name"] == "Stale.Event.Retried"]
    assert stored == ["op-this"]


def test_wait_for_rows_times_out_clearly(tmp_path: Path) -> None:
    with pytest.raises(TimeoutError, match=r"no matching row in requests.jsonl after 0.2s \(0 rows in all\)"):
        wait_for_rows(tmp_path, "requests", timeout=0.2)


def test_parse_duration_ms() -> None:
    assert parse_duration_ms("0.00:00:00.250") == 250.0
    assert parse_duration_ms("1.02:03:04.500000") == ((26 * 60 + 3) * 60 + 4.5) * 1000
    assert parse_duration_ms("00:00:01.5") == 1500.0
    assert parse_duration_ms("bad") is None
