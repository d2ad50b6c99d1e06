"""The one producer helper: every game event is enqueued through :class:`QueueProducer`.

It encodes messages the way host.json tells the trigger to decode them (base64: field case 11, a producer sending
plain JSON poisons every message), stamps the envelope with the correlation id and the producer span's trace
context, and records a PRODUCER dependency per send.
"""

from __future__ import annotations

import threading
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient
from opentelemetry.propagate import inject
from opentelemetry.trace import SpanKind

from shared import correlation, envelope
from shared.envelope import Envelope, EventType
from shared.errors import AppError, ErrorCode
from shared.telemetry import attributes as attr
from shared.telemetry import timed

MESSAGING_SYSTEM = "azure_queue"


def poison_queue_of(queue: str) -> str:
    return f"{queue}-poison"


class QueueProducer:
    def __init__(self, connection_string: str) -> None:
        self._connection_string = connection_string
        self._clients: dict[str, QueueClient] = {}
        self._lock = threading.Lock()

    def send(self, event_type: EventType, payload: dict[str, Any], *, event_id: str | None = None) -> Envelope:
        """Enqueue one event; the envelope's trace context is the producer span's, so the consumer continues it."""
        queue = event_type.queue
        with timed(f"{queue} send", kind=SpanKind.PRODUCER, attributes=_span_attributes(queue, event_type)):
            carrier: dict[str, str] = {}
            inject(carrier)
            cid = correlation.current() or correlation.new_id()
            message = envelope.build(event_type, payload, correlation_id=cid, event_id=event_id,
                                     traceparent=carrier.get("traceparent"), tracestate=carrier.get("tracestate"))
            body = message.to_json().encode("utf-8")
            if len(body) > envelope.MAX_MESSAGE_BYTES:
                raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, "event is too large to enqueue", field="payload")
            self._send(queue, body)
        return message

    def dead_letter(self, queue: str, raw: bytes) -> None:
        """Move a message that can never succeed to ``<queue>-poison`` as it arrived, byte for byte (the evidence
        is kept, even bytes that are not UTF-8)."""
        target = poison_queue_of(queue)
        with timed(f"{target} send", kind=SpanKind.PRODUCER, attributes=_span_attributes(target, None)):
            self._send(target, raw)

    def _send(self, queue: str, body: bytes) -> None:
        """Base64 of the bytes, as host.json's ``messageEncoding: base64`` tells the trigger to decode."""
        try:
            self._client(queue).send_message(body)
        except AzureError as exc:
            raise AppError(ErrorCode.DEPENDENCY_UNAVAILABLE, "the event queue is unavailable") from exc

    def _client(self, queue: str) -> QueueClient:
        with self._lock:
            client = self._clients.get(queue)
            if client is None:
                client = QueueClient.from_connection_string(
                    self._connection_string, queue, message_encode_policy=BinaryBase64EncodePolicy()
                )
                try:
                    client.create_queue()
                except ResourceExistsError:
                    pass
                self._clients[queue] = client
            return client


def _span_attributes(queue: str, event_type: EventType | None) -> dict[str, Any]:
    return {
        attr.MESSAGING_SYSTEM: MESSAGING_SYSTEM,
        attr.MESSAGING_DESTINATION: queue,
        attr.MESSAGING_OPERATION: "send",
        attr.EVENT_TYPE: event_type.value if event_type else None,
    }
