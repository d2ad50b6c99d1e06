"""Per-invocation cost of the HTTP function wrapper against the same telemetry written by hand with raw OpenTelemetry.

Why: the wrapper (correlation, timing, event pipeline, error envelope) runs on every request, so its cost must stay
close to what a careful hand-written version would pay: the target is at most 1.5x the raw cost.

    .venv/bin/python bench/wrapper_overhead.py [--n 20000] [--repeats 7] [--profile]

Both cases run in one process on the providers ``shared.telemetry.setup.configure`` installs (our sampler and span
processors included; no metric reader, as with ``metrics=None``), with no-op exporters. Each invocation emits the same
items: a SERVER span, a CLIENT child span, one custom event (log record, player id pseudonymised), two
duration-histogram records, and a JSON ``HttpResponse`` with the correlation header. Case A (ours) is a no-op handler
wrapped by ``http_function``; case B (raw) writes the same telemetry by hand. Before timing, a check pass compares
what both export (span names, kinds, parents and attributes, the event's attributes and span, the response;
histograms have no reader to compare). Both cases are timed in interleaved chunks; the result is the median over
repeats of the per-invocation mean. Writes ``bench/results/wrapper_overhead.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import hmac
import json
import os
import platform
import pstats
import statistics
import sys
import time
import types
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import azure.functions as func  # noqa: E402
from opentelemetry import _logs, metrics, trace  # noqa: E402
from opentelemetry._logs import SeverityNumber  # noqa: E402
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult  # noqa: E402
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult  # noqa: E402
from opentelemetry.trace import SpanKind  # noqa: E402

from game.events import LOCATION_VIEWED  # noqa: E402
from shared import runtime  # noqa: E402
from shared.handlers import HttpCall, Reply, http_function  # noqa: E402
from shared.operations import ALWAYS_KEPT, Operation  # noqa: E402
from shared.settings import AppSettings  # noqa: E402
from shared.telemetry import attributes as attr  # noqa: E402
from shared.telemetry import emit, flush, timed  # noqa: E402
from shared.telemetry.setup import Exporters, configure  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "wrapper_overhead.json"
TARGET = 1.5
CHUNK = 200
"""Invocations per timed chunk: 400 spans and 200 events stay below the batch processors' 512-item wake-up."""
ROUTE = "players/{player_id}/look"
DEPENDENCY = "players read_item"
PSEUDONYM_KEY = "bench-pseudonym-key"
DEP_ATTRIBUTES: dict[str, Any] = {
    attr.DB_SYSTEM: "cosmosdb", attr.DB_OPERATION: "read_item", attr.DB_COLLECTION: "players",
    attr.DB_NAMESPACE: "game", attr.COSMOS_CONTAINER: "players", attr.COSMOS_PARTITION_KEY: "p_0123456789abcdef",
}
DIMENSIONS: dict[str, Any] = {attr.PLAYER_ID: "player-0001", attr.LOCATION_ID: "village-square", attr.ITEM_COUNT: 4}


# --- the benchmark's sink: exporters that accept every batch and drop it (optionally keeping it for the check) -----
class NoopSpanExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0
        self.kept: list[Any] | None = None

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.count += len(spans)
        if self.kept is not None:
            self.kept.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class NoopLogExporter(LogRecordExporter):
    def __init__(self) -> None:
        self.count = 0
        self.kept: list[Any] | None = None

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.count += len(batch)
        if self.kept is not None:
            self.kept.extend(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# --- case A: ours ---------------------------------------------------------------------------------------------------
@http_function(Operation.PLAYER_LOOK, route=ROUTE)
def look(call: HttpCall) -> Reply:
    emit(LOCATION_VIEWED, DIMENSIONS)
    with timed(DEPENDENCY, kind=SpanKind.CLIENT, attributes=DEP_ATTRIBUTES):
        pass
    return Reply(200, {})


# --- case B: the same telemetry by hand with the raw OpenTelemetry API ------------------------------------------------
def make_raw() -> Callable[[func.HttpRequest, Any], func.HttpResponse]:
    tracer = trace.get_tracer("raw")
    logger = _logs.get_logger("raw")
    histogram = metrics.get_meter("raw").create_histogram("game.operation.duration", unit="ms")
    key = PSEUDONYM_KEY.encode()
    operation = Operation.PLAYER_LOOK.value

    def raw(req: func.HttpRequest, context: Any) -> func.HttpResponse:
        cid = req.headers.get("x-correlation-id") or str(uuid.uuid4())  # the bench request carries neither header
        assert req.headers.get("traceparent") is None
        start = time.perf_counter()
        with tracer.start_as_current_span(operation, kind=SpanKind.SERVER, attributes={
            attr.OPERATION: operation, attr.HTTP_METHOD: req.method.upper(), attr.CORRELATION_ID: cid,
        }, record_exception=False, set_status_on_exception=False) as server:
            rate = float(server.get_span_context().trace_state.get("gobs", "p:100").rsplit("p:", 1)[1])
            pseudonym = "p_" + hmac.new(key, DIMENSIONS[attr.PLAYER_ID].encode(), hashlib.sha256).hexdigest()[:16]
            logger.emit(severity_number=SeverityNumber.INFO, body=LOCATION_VIEWED.name, attributes={
                attr.PLAYER_ID: pseudonym, attr.LOCATION_ID: DIMENSIONS[attr.LOCATION_ID],
                attr.ITEM_COUNT: DIMENSIONS[attr.ITEM_COUNT], attr.CORRELATION_ID: cid, attr.OPERATION: operation,
                "_MS.sampleRate": rate, "microsoft.custom_event.name": LOCATION_VIEWED.name,
            })
            dep_start = time.perf_counter()
            with tracer.start_as_current_span(DEPENDENCY, kind=SpanKind.CLIENT, attributes={
                **DEP_ATTRIBUTES, attr.CORRELATION_ID: cid, attr.OPERATION: operation,
            }, record_exception=False, set_status_on_exception=False) as client:
                client.set_attribute(attr.OUTCOME, "succeeded")
                histogram.record((time.perf_counter() - dep_start) * 1000.0,
                                 {attr.OPERATION: DEPENDENCY, attr.OUTCOME: "succeeded"})
            server.set_attribute(attr.OUTCOME, "succeeded")
            server.set_attribute(attr.HTTP_STATUS_CODE, 200)
            histogram.record((time.perf_counter() - start) * 1000.0,
                             {attr.OPERATION: operation, attr.OUTCOME: "succeeded"})
            return func.HttpResponse(json.dumps({"correlation_id": cid}, ensure_ascii=False), status_code=200,
                                     mimetype="application/json", headers={"x-correlation-id": cid})

    return raw


# --- harness ----------------------------------------------------------------------------------------------------------
def exported(sinks: tuple[NoopSpanExporter, NoopLogExporter], case: Callable[..., func.HttpResponse],
             req: func.HttpRequest, ctx: Any) -> dict[str, Any]:
    """One invocation with the sinks keeping what they get: spans, events and the response, correlation id masked."""
    sinks[0].kept, sinks[1].kept = [], []
    response = case(req, ctx)
    flush()
    cid = response.headers["x-correlation-id"]

    def masked(attributes: Any) -> dict[str, Any]:
        return {k: ("<cid>" if v == cid else v) for k, v in sorted(dict(attributes or {}).items())}

    names = {s.context.span_id: s.name for s in sinks[0].kept}
    out = {
        "spans": sorted((s.kind.name, s.name, names.get(s.parent.span_id) if s.parent else None,
                         json.dumps(masked(s.attributes))) for s in sinks[0].kept),
        "events": [(str(r.log_record.body), names.get(r.log_record.span_id),
                    json.dumps(masked(r.log_record.attributes))) for r in sinks[1].kept],
        "response": (response.status_code, response.mimetype, sorted(json.loads(response.get_body()))),
    }
    sinks[0].kept = sinks[1].kept = None
    return out


def measure(cases: dict[str, Callable[..., func.HttpResponse]], req: func.HttpRequest, ctx: Any, n: int,
            each: dict[str, list[int]] | None = None) -> dict[str, float]:
    """Mean µs per invocation of each case over ``n`` invocations, timed in interleaved chunks of :data:`CHUNK`.

    Interleaving chunk by chunk (A, B, B, A, ...) exposes both cases to the same machine noise. The exporters are
    drained between chunks, outside the timed region: the SDK's batch queue holds 2048 items and drops (and logs)
    beyond that when its worker thread falls behind, which would time the drop path instead of the telemetry. With
    ``each`` every invocation is also timed on its own (for the p95).
    """
    totals = dict.fromkeys(cases, 0)
    names = list(cases)
    for number, done in enumerate(range(0, n, CHUNK)):
        for name in names if number % 2 == 0 else names[::-1]:
            case, size, samples = cases[name], min(CHUNK, n - done), None if each is None else each[name]
            flush()
            start = time.perf_counter_ns()
            if samples is None:
                for _ in range(size):
                    case(req, ctx)
            else:
                for _ in range(size):
                    one = time.perf_counter_ns()
                    case(req, ctx)
                    samples.append(time.perf_counter_ns() - one)
            totals[name] += time.perf_counter_ns() - start
    return {name: total / n / 1000.0 for name, total in totals.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="invocations per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top costs of each case")
    args = parser.parse_args(argv)

    settings = AppSettings(pseudonym_key=PSEUDONYM_KEY, role_name="bench")
    sinks = (NoopSpanExporter(), NoopLogExporter())
    configure(settings, always_kept=ALWAYS_KEPT, exporters=Exporters(spans=sinks[0], logs=sinks[1], metrics=None))
    runtime.install(lambda: types.SimpleNamespace(settings=settings, cosmos=None, producer=None))  # type: ignore
    req = func.HttpRequest(method="GET", url="http://localhost/api/players/player-0001/look", headers={},
                           params={}, route_params={"player_id": "player-0001"}, body=b"")
    ctx = types.SimpleNamespace(trace_context=None, invocation_id="bench", function_name="look")
    cases: dict[str, Callable[..., func.HttpResponse]] = {"ours": look, "raw": make_raw()}

    load_before = os.getloadavg()
    ours_items, raw_items = (exported(sinks, cases[name], req, ctx) for name in ("ours", "raw"))
    same = ours_items == raw_items
    print(f"check: both cases export the same spans, event and response: {same}")
    if not same:
        print(json.dumps({"ours": ours_items, "raw": raw_items}, indent=1))

    measure(cases, req, ctx, min(args.n, 5_000))  # warm-up
    samples: dict[str, list[float]] = {"ours": [], "raw": []}
    flush()
    before = (sinks[0].count, sinks[1].count)
    for repeat in range(args.repeats):
        gc.collect()
        for name, mean in measure(cases, req, ctx, args.n).items():
            samples[name].append(mean)
        print(f"repeat {repeat + 1}/{args.repeats}: ours {samples['ours'][-1]:.2f} µs, "
              f"raw {samples['raw'][-1]:.2f} µs", flush=True)
    flush()
    invocations = 2 * args.repeats * args.n
    delivered = {"spans": sinks[0].count - before[0], "events": sinks[1].count - before[1]}
    each: dict[str, list[int]] = {"ours": [], "raw": []}
    measure(cases, req, ctx, min(args.n, 10_000), each)
    tails = {name: statistics.quantiles(values, n=20)[18] / 1000.0 for name, values in each.items()}

    ours_us, raw_us = statistics.median(samples["ours"]), statistics.median(samples["raw"])
    ratio = ours_us / raw_us
    result: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": {"python": platform.python_version(), "implementation": platform.python_implementation(),
                        "platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
                        "opentelemetry_sdk": version("opentelemetry-sdk"),
                        "azure_functions": version("azure-functions"),
                        "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]},
        "n": args.n, "repeats": args.repeats,
        "ours_us": round(ours_us, 2), "raw_us": round(raw_us, 2), "ratio": round(ratio, 3),
        "ratio_per_repeat": [round(a / b, 3) for a, b in zip(samples["ours"], samples["raw"], strict=True)],
        "ours_p95_us": round(tails["ours"], 2), "raw_p95_us": round(tails["raw"], 2),
        "samples_us": {k: [round(v, 2) for v in vs] for k, vs in samples.items()},
        "same_telemetry": same,
        "exported_during_timing": {**delivered, "expected_spans": 2 * invocations, "expected_events": invocations},
        "target": TARGET, "pass": ratio <= TARGET,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "samples_us"}, indent=2, ensure_ascii=False))

    if args.profile:
        for name, case in cases.items():
            profiler = cProfile.Profile()
            profiler.runcall(measure, {name: case}, req, ctx, args.n)
            print(f"\n--- cProfile, {name}, {args.n} invocations (tottime) ---")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return 0 if result["pass"] and same else 1


if __name__ == "__main__":
    sys.exit(main())
