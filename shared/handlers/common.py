"""What the three wrappers share: trace context from the host, privacy-safe exception rows, the function shape."""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from typing import Any

import azure.functions as func
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber, get_logger
from opentelemetry.context import Context
from opentelemetry.trace import Link
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared import correlation
from shared.telemetry import attributes as attr
from shared.telemetry.api import INSTRUMENTATION
from shared.telemetry.sampling import without_decision

_PROPAGATOR = TraceContextTextMapPropagator()
_SCRUB = [
    (re.compile(r"(?i)(key|secret|token|password|sig|signature|accountkey)=([^;&\s]+)"), r"\1=***"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<id>"),
    (re.compile(r"\d{6,}"), "<n>"),
]


def extract(traceparent: str | None, tracestate: str | None) -> Context | None:
    """An OpenTelemetry context whose parent is the given W3C trace context (None when absent or invalid)."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    context = _PROPAGATOR.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def host_context(context: func.Context | None) -> Context | None:
    """The host's own activity, handed to the worker in ``context.trace_context``."""
    trace_context = getattr(context, "trace_context", None)
    if trace_context is None:
        return None
    # The host copies the caller's tracestate into its activity: a sampling decision in it is the caller's, not ours.
    return extract(getattr(trace_context, "trace_parent", None),
                   without_decision(getattr(trace_context, "trace_state", None)))


def link_to(context: Context | None) -> list[Link]:
    if context is None:
        return []
    return [Link(trace.get_current_span(context).get_span_context())]


def scrub(text: str, limit: int = 300) -> str:
    """Remove what could be a secret, user text or a raw id from an exception message before it is exported."""
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text[:limit]


def record_exception(exc: BaseException, operation: str) -> None:
    """One ``exceptions`` row: type, scrubbed message and the stack's frames (code locations, never values)."""
    get_logger(INSTRUMENTATION).emit(
        severity_number=SeverityNumber.ERROR,
        body=f"unhandled {type(exc).__name__} in {operation}",
        attributes={
            "exception.type": type(exc).__name__,
            "exception.message": scrub(str(exc)),
            "exception.stacktrace": "".join(traceback.format_tb(exc.__traceback__)),
            attr.OPERATION: operation,
            **({attr.CORRELATION_ID: cid} if (cid := correlation.current()) else {}),
        },
    )


def shaped(template: Callable[..., Any], handler: Callable[..., Any]) -> Callable[..., Any]:
    """Give the wrapper the handler's name (Azure names the function after it) but keep the wrapper's parameters
    (Azure binds triggers by parameter name), so ``functools.wraps`` — which sets ``__wrapped__`` — is not used."""
    template.__name__ = handler.__name__
    template.__qualname__ = handler.__qualname__
    template.__doc__ = handler.__doc__
    template.__module__ = handler.__module__
    return template
