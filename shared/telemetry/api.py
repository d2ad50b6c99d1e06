"""The tiny API handlers use: :func:`emit` a declared event, get the tracer and meter, :func:`flush`.

It works unconfigured: before ``configure()`` the OpenTelemetry API hands out no-op providers, so handlers and tests
that never set telemetry up pay almost nothing and send nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from opentelemetry import metrics, trace
from opentelemetry._logs import SeverityNumber, get_logger

from shared.telemetry import pipeline
from shared.telemetry.events import EventSpec

INSTRUMENTATION = "game-observability"
CUSTOM_EVENT_NAME = "microsoft.custom_event.name"
"""Log-record attribute that makes the Azure Monitor exporter write a ``customEvents`` row with this name."""

_flushers: list = []
_listeners: list[Callable[[str, dict[str, object]], None]] = []
_tracer: tuple[trace.TracerProvider, trace.Tracer] | None = None
"""The app's tracer and the provider it came from: the SDK's ``get_tracer`` rebuilds its scope on every call."""


def tracer() -> trace.Tracer:
    global _tracer
    provider = trace.get_tracer_provider()
    if _tracer is None or _tracer[0] is not provider:  # refreshed when configure() installs the real provider
        _tracer = (provider, provider.get_tracer(INSTRUMENTATION))
    return _tracer[1]


def meter() -> metrics.Meter:
    return metrics.get_meter(INSTRUMENTATION)


def emit(spec: EventSpec, dimensions: Mapping[str, object] | None = None) -> bool:
    """Emit a declared event through the pipeline; returns False when sampling dropped it."""
    event = pipeline.run({"spec": spec, "attributes": dict(dimensions or {})})
    if event is None:
        return False
    attributes = dict(event["attributes"])
    for listener in _listeners:
        listener(spec.name, dict(attributes))
    attributes[CUSTOM_EVENT_NAME] = spec.name
    get_logger(INSTRUMENTATION).emit(
        severity_number=SeverityNumber.INFO, body=spec.name, attributes=attributes
    )
    return True


def add_listener(listener: Callable[[str, dict[str, object]], None]) -> None:
    """Also hand every kept event to ``listener`` (see :mod:`shared.telemetry.testing`)."""
    _listeners.append(listener)


def remove_listener(listener: Callable[[str, dict[str, object]], None]) -> None:
    _listeners.remove(listener)


def register_flusher(flush_callable: Callable[[int], bool]) -> None:
    """Called by ``configure()`` with each provider's ``force_flush``."""
    _flushers.append(flush_callable)


def flush(timeout_millis: int = 5000) -> bool:
    """Push everything buffered to the exporters: before a short-lived process or a timer run ends."""
    return all(flusher(timeout_millis) for flusher in list(_flushers))
