"""One timing primitive: a span plus a duration histogram with the outcome, as context manager or decorator.

It never swallows an error: the exception is re-raised after the span is marked failed and the duration recorded.
Wrappers and repositories use it; handlers rarely need it directly.
"""

from __future__ import annotations

import enum
import functools
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import Histogram
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from shared.telemetry import attributes as attr
from shared.telemetry.api import meter, tracer

F = TypeVar("F", bound=Callable[..., Any])

DURATION_METRIC = "game.operation.duration"
"""Histogram of operation durations in milliseconds, by ``game.operation`` and ``game.outcome``."""


class Outcome(enum.Enum):
    """How a timed operation ended; crosses into telemetry as ``game.outcome``."""

    SUCCEEDED = "succeeded"
    REJECTED = "rejected"
    """The caller's input was refused (4xx, validation): the app behaved correctly."""
    FAILED = "failed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


_histogram: Histogram | None = None


def _duration_histogram() -> Histogram:
    global _histogram
    if _histogram is None:
        _histogram = meter().create_histogram(DURATION_METRIC, unit="ms", description="Operation duration")
    return _histogram


def reset_instruments() -> None:
    """Forget cached instruments (``configure()`` calls it so they bind to the real meter provider)."""
    global _histogram
    _histogram = None


class Timing:
    """Handle to the running measurement: set the outcome or add attributes before it ends."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.outcome: Outcome | None = None

    def set(self, key: str, value: object) -> None:
        if value is not None and value != "":
            self.span.set_attribute(key, getattr(value, "value", value))


class timed:  # noqa: N801 - used like a function: ``with timed(...)`` / ``@timed(...)``
    def __init__(
        self,
        name: str,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        context: Context | None = None,
        links: Sequence[Link] | None = None,
    ) -> None:
        self._name, self._kind, self._context, self._links = str(name), kind, context, links
        self._attributes = {k: getattr(v, "value", v) for k, v in (attributes or {}).items() if v not in (None, "")}
        self._stack: ExitStack | None = None
        self._timing: Timing | None = None
        self._start = 0.0

    def __enter__(self) -> Timing:
        self._stack = ExitStack()
        span = self._stack.enter_context(
            tracer().start_as_current_span(
                self._name, context=self._context, kind=self._kind, attributes=self._attributes,
                links=self._links, record_exception=False, set_status_on_exception=False,
            )
        )
        self._timing = Timing(span)
        self._start = time.perf_counter()
        return self._timing

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._timing is not None and self._stack is not None
        elapsed_ms = (time.perf_counter() - self._start) * 1000.0
        outcome = self._timing.outcome or (Outcome.FAILED if exc is not None else Outcome.SUCCEEDED)
        span = self._timing.span
        span.set_attribute(attr.OUTCOME, outcome.value)
        if outcome is Outcome.FAILED:
            span.set_status(Status(StatusCode.ERROR, exc_type.__name__ if exc_type else "failed"))
        _duration_histogram().record(elapsed_ms, {attr.OPERATION: self._name, attr.OUTCOME: outcome.value})
        self._stack.close()

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await func(*args, **kwargs)
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return func(*args, **kwargs)
        return wrapper  # type: ignore[return-value]

    def _fresh(self) -> timed:
        """A new instance per call, so one decorated function can run concurrently."""
        return timed(self._name, kind=self._kind, attributes=self._attributes, links=self._links)


def current_span() -> Span:
    return trace.get_current_span()
