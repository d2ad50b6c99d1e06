"""Span processors: enrich every span with the invocation context, and keep failed spans of unsampled traces."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanContext, SpanKind, StatusCode, TraceFlags

from shared import correlation
from shared.telemetry import attributes as attr
from shared.telemetry.context import current_operation
from shared.telemetry.sampling import SAMPLE_RATE_KEY


class ContextSpanProcessor(SpanProcessor):
    """Adds the correlation id and operation of the running invocation to every span as it starts."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        cid = correlation.current()
        if cid:
            span.set_attribute(attr.CORRELATION_ID, cid)
        operation = current_operation()
        if operation and attr.OPERATION not in (span.attributes or {}):
            span.set_attribute(attr.OPERATION, operation)

    def on_end(self, span: ReadableSpan) -> None:
        return None


class KeepErrorsProcessor(SpanProcessor):
    """Forwards sampled spans, and failed spans of unsampled traces (as kept, weight 1); counts the rest as dropped.

    Errors are never sampled away: an unsampled failed span is re-issued with the sampled flag and a sample rate of
    100 so it is exported and counts once.
    """

    def __init__(self, inner: SpanProcessor, on_drop: Callable[[str], None]) -> None:
        self._inner = inner
        self._on_drop = on_drop

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if span.context.trace_flags.sampled:
            self._inner.on_end(span)
        elif span.status.status_code is StatusCode.ERROR:
            self._inner.on_end(_kept_copy(span))
        else:
            self._on_drop(_table_of(span))

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _table_of(span: ReadableSpan) -> str:
    return "requests" if span.kind in (SpanKind.SERVER, SpanKind.CONSUMER) else "dependencies"


def _kept_copy(span: ReadableSpan) -> ReadableSpan:
    ctx = span.context
    kept = SpanContext(
        ctx.trace_id, ctx.span_id, ctx.is_remote,
        TraceFlags(int(ctx.trace_flags) | TraceFlags.SAMPLED), ctx.trace_state,
    )
    attributes = dict(span.attributes or {})
    attributes[SAMPLE_RATE_KEY] = 100.0
    return ReadableSpan(
        name=span.name, context=kept, parent=span.parent, resource=span.resource, attributes=attributes,
        events=span.events, links=span.links, kind=span.kind, status=span.status, start_time=span.start_time,
        end_time=span.end_time, instrumentation_scope=span.instrumentation_scope,
    )
