"""The sampler and the error-keeping processor with the real OpenTelemetry SDK (its in-memory exporter is part of
the SDK, not a mock): decisions per trace, carried in tracestate, never from a parent's ``is_recording()``."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from shared.telemetry import attributes as attr
from shared.telemetry.sampling import SAMPLE_RATE_KEY, TRACESTATE_KEY, SamplingPolicy, TraceSampler, score
from shared.telemetry.spans import KeepErrorsProcessor


def _provider(percentage: float, always: frozenset[str] = frozenset()) -> tuple[TracerProvider, InMemorySpanExporter,
                                                                                list[str]]:
    exporter, dropped = InMemorySpanExporter(), []
    provider = TracerProvider(sampler=TraceSampler(SamplingPolicy(percentage, always)))
    provider.add_span_processor(KeepErrorsProcessor(SimpleSpanProcessor(exporter), dropped.append))
    return provider, exporter, dropped


def _remote(trace_id: int, flags: int, state: TraceState | None = None):  # type: ignore[no-untyped-def]
    parent = NonRecordingSpan(SpanContext(trace_id, 0x1234, True, TraceFlags(flags), state or TraceState()))
    return trace.set_span_in_context(parent)


def _trace_ids(kept: bool, percentage: float, count: int) -> list[int]:
    ids, candidate = [], 1
    while len(ids) < count:
        candidate = (candidate * 6364136223846793005 + 1442695040888963407) % (1 << 128)
        if (score(candidate) < percentage) == kept:
            ids.append(candidate)
    return ids


def test_unsampled_remote_parent_does_not_decide_our_policy_does() -> None:
    provider, exporter, dropped = _provider(25.0)
    tracer = provider.get_tracer("t")
    for trace_id in _trace_ids(True, 25.0, 5) + _trace_ids(False, 25.0, 7):
        with tracer.start_as_current_span("op", context=_remote(trace_id, flags=0)):
            with tracer.start_as_current_span("child"):
                pass
    spans = exporter.get_finished_spans()
    assert len(spans) == 10 and len(dropped) == 14  # 5 kept traces x 2 spans; 7 dropped x 2
    assert all(s.attributes[SAMPLE_RATE_KEY] == 25.0 for s in spans)
    assert all(s.context.trace_state.get(TRACESTATE_KEY) == "s:1;p:25" for s in spans)


def test_a_carried_decision_is_inherited_even_if_the_local_policy_would_differ() -> None:
    provider, exporter, _ = _provider(100.0)
    tracer = provider.get_tracer("t")
    carried = TraceState([(TRACESTATE_KEY, "s:0;p:10")])
    with tracer.start_as_current_span("consumer", context=_remote(_trace_ids(True, 100, 1)[0], 1, carried)):
        pass
    assert exporter.get_finished_spans() == ()
    kept_state = TraceState([(TRACESTATE_KEY, "s:1;p:10")])
    with tracer.start_as_current_span("consumer", context=_remote(_trace_ids(False, 10, 1)[0], 0, kept_state)):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.attributes[SAMPLE_RATE_KEY] == 10.0


def test_always_kept_operations_ignore_the_rate() -> None:
    provider, exporter, _ = _provider(1.0, frozenset({"Timer.IntegrityCheck"}))
    tracer = provider.get_tracer("t")
    for trace_id in _trace_ids(False, 1.0, 3):
        with tracer.start_as_current_span("timer", context=_remote(trace_id, 0),
                                          attributes={attr.OPERATION: "Timer.IntegrityCheck"}):
            pass
    assert [s.attributes[SAMPLE_RATE_KEY] for s in exporter.get_finished_spans()] == [100.0] * 3


def test_failed_spans_of_dropped_traces_are_kept_with_weight_one() -> None:
    provider, exporter, dropped = _provider(25.0)
    tracer = provider.get_tracer("t")
    (trace_id,) = _trace_ids(False, 25.0, 1)
    with tracer.start_as_current_span("op", context=_remote(trace_id, 0), kind=SpanKind.SERVER):
        with tracer.start_as_current_span("cosmos", kind=SpanKind.CLIENT) as failing:
            failing.set_status(Status(StatusCode.ERROR, "boom"))
    (kept,) = exporter.get_finished_spans()
    assert kept.name == "cosmos" and kept.context.trace_flags.sampled
    assert kept.attributes[SAMPLE_RATE_KEY] == 100.0 and kept.context.trace_id == trace_id
    assert dropped == ["requests"]  # the successful SERVER span of the dropped trace is counted, not exported
