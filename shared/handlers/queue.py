"""The queue function wrapper: continue the producer's trace, dead-letter what can never succeed, retry the rest.

- The consumer span's parent is the producer span named in the envelope (one operation id from HTTP to Cosmos);
  the host's own activity is kept as a link. Queue wait time and dequeue count are recorded (field case 1).
- A message that is not a valid envelope, or whose payload fails validation, or whose handler raises a validation
  or permanent error, is copied to ``<queue>-poison`` once with the reason and completed: never retried five times.
- A transient or unexpected error is re-raised: the host makes the message visible again and, after
  ``maxDequeueCount`` tries, moves it to the poison queue itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from opentelemetry.trace import SpanKind

from shared import correlation, envelope, runtime
from shared.envelope import Envelope, EventType
from shared.errors import AppError, ErrorKind
from shared.handlers.common import extract, host_context, link_to, record_exception, shaped
from shared.handlers.events import INVOCATION_FAILED, MESSAGE_DEAD_LETTERED
from shared.queues import MESSAGING_SYSTEM, poison_queue_of
from shared.runtime import Services
from shared.schema import Schema
from shared.telemetry import Outcome, Timing, emit, timed
from shared.telemetry import attributes as attr
from shared.telemetry.context import bound


@dataclass(frozen=True)
class QueueCall:
    envelope: Envelope
    payload: dict[str, Any]
    dequeue_count: int
    services: Services


@dataclass(frozen=True)
class Handled:
    """A handler's answer: ``duplicate`` when a redelivered event was recognised and changed nothing."""

    duplicate: bool = False


Handler = Callable[[QueueCall], Handled | None]


def queue_function(operation: str, event_type: EventType, *,
                   payload: Schema) -> Callable[[Handler], Callable[..., Any]]:
    """Wrap ``handler(call) -> Handled | None`` as an Azure queue function ``(msg, context) -> None``."""

    def decorate(handler: Handler) -> Callable[..., Any]:
        def function(msg: func.QueueMessage, context: func.Context) -> None:
            _invoke(handler, operation, event_type, payload, msg, context)

        return shaped(function, handler)

    return decorate


def _invoke(handler: Handler, operation: str, event_type: EventType, schema: Schema,
            msg: func.QueueMessage, context: func.Context | None) -> None:
    raw = msg.get_body()
    dequeue_count = int(getattr(msg, "dequeue_count", None) or 1)
    host = host_context(context)
    try:
        message = envelope.parse(raw)
        if message.type != event_type.value:
            raise envelope.invalid("type", f"must be {event_type.value} on this queue")
    except AppError as error:
        _reject_unreadable(operation, event_type, raw, dequeue_count, error, host)
        return
    parent = extract(message.traceparent, message.tracestate) or host
    with bound(message.correlation_id, operation), timed(
        operation, kind=SpanKind.CONSUMER, context=parent, links=link_to(host),
        attributes=_consumer_attributes(operation, event_type, message, dequeue_count),
    ) as timing:
        _run(handler, operation, event_type, schema, message, raw, dequeue_count, timing)


def _run(handler: Handler, operation: str, event_type: EventType, schema: Schema, message: Envelope,
         raw: bytes, dequeue_count: int, timing: Timing) -> None:
    try:
        call = QueueCall(message, schema.parse(message.payload, prefix="payload."), dequeue_count,
                         runtime.services())
        result = handler(call)
        if result is not None and result.duplicate:
            timing.outcome = Outcome.DUPLICATE
            timing.set(attr.DUPLICATE, True)
    except AppError as error:
        if error.error.kind in (ErrorKind.VALIDATION, ErrorKind.PERMANENT):
            timing.outcome = Outcome.DEAD_LETTERED
            timing.set(attr.ERROR_CODE, error.error.code)
            _dead_letter(event_type, raw, error.error.code, dequeue_count, message.event_id)
            return
        _retry_later(timing, error.error.code, error.error.kind, event_type, dequeue_count)
        raise
    except Exception as exc:
        record_exception(exc, operation)
        _retry_later(timing, "internal_error", ErrorKind.INTERNAL, event_type, dequeue_count)
        raise


def _retry_later(timing: Timing, code: str, kind: ErrorKind, event_type: EventType, dequeue_count: int) -> None:
    timing.outcome = Outcome.FAILED
    timing.set(attr.ERROR_CODE, code)
    emit(INVOCATION_FAILED, {attr.ERROR_CODE: code, attr.ERROR_KIND: kind, attr.EVENT_TYPE: event_type.value,
                             attr.DEQUEUE_COUNT: dequeue_count})


def _reject_unreadable(operation: str, event_type: EventType, raw: bytes, dequeue_count: int,
                       error: AppError, host: Any) -> None:
    """A message we cannot even read: record it under its salvaged correlation id, then dead-letter it once."""
    cid = envelope.salvage_correlation_id(raw) or correlation.new_id()
    with bound(cid, operation), timed(
        operation, kind=SpanKind.CONSUMER, context=host,
        attributes={attr.OPERATION: operation, attr.EVENT_TYPE: event_type.value, attr.DEQUEUE_COUNT: dequeue_count,
                    attr.MESSAGING_SYSTEM: MESSAGING_SYSTEM, attr.MESSAGING_DESTINATION: event_type.queue},
    ) as timing:
        timing.outcome = Outcome.DEAD_LETTERED
        timing.set(attr.ERROR_CODE, error.error.code)
        _dead_letter(event_type, raw, f"{error.error.code}:{error.field}", dequeue_count, None)


def _dead_letter(event_type: EventType, raw: bytes, reason: str, dequeue_count: int, event_id: str | None) -> None:
    runtime.services().producer.dead_letter(event_type.queue, raw)
    emit(MESSAGE_DEAD_LETTERED, {
        attr.MESSAGING_DESTINATION: poison_queue_of(event_type.queue), attr.DEAD_LETTER_REASON: reason,
        attr.DEQUEUE_COUNT: dequeue_count, attr.EVENT_TYPE: event_type.value, attr.EVENT_ID: event_id,
    })


def _consumer_attributes(operation: str, event_type: EventType, message: Envelope,
                         dequeue_count: int) -> dict[str, Any]:
    waited = datetime.now(UTC) - envelope.parse_time(message.enqueued_at)
    return {
        attr.OPERATION: operation, attr.EVENT_TYPE: event_type.value, attr.EVENT_ID: message.event_id,
        attr.DEQUEUE_COUNT: dequeue_count, attr.QUEUE_WAIT_MS: max(0, int(waited.total_seconds() * 1000)),
        attr.MESSAGING_SYSTEM: MESSAGING_SYSTEM, attr.MESSAGING_DESTINATION: event_type.queue,
        attr.MESSAGING_OPERATION: "process",
    }
