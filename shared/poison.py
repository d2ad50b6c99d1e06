"""Poison queue inspection: what sits in ``<queue>-poison``, under which correlation id, and why it could not be read.

The host moves a message to the poison queue after ``maxDequeueCount`` failed tries, and the wrapper dead-letters
messages that can never succeed. Both leave the evidence there; this scan reports it (field case 11: a producer that
sends plain JSON while the trigger expects base64 poisons every message, and the operator needs the correlation id
and the reason, not a silent queue). It only peeks: it never removes or rewrites a poison message.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueMessage

from shared import correlation, jsontext
from shared.envelope import EventType
from shared.queues import poison_queue_of

PEEK_LIMIT = 32
"""Queue service maximum for one peek."""


class Encoding(enum.Enum):
    BASE64_JSON = "base64-json"
    """As the trigger expects: the message itself is fine, its handler failed."""
    PLAIN_JSON = "plain-json"
    """A producer skipped base64: the host could not decode it."""
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class PoisonMessage:
    queue: str
    message_id: str
    encoding: Encoding
    correlation_id: str | None
    event_type: str | None


@dataclass(frozen=True)
class PoisonQueue:
    queue: str
    length: int
    sample: tuple[PoisonMessage, ...]


def classify(raw: str) -> tuple[Encoding, dict | None]:
    """How a raw message body was encoded, and its JSON object if one can be read."""
    try:
        decoded = base64.b64decode(raw.encode("ascii"), validate=True)
        data = jsontext.loads(decoded)
        return (Encoding.BASE64_JSON, data) if isinstance(data, dict) else (Encoding.UNREADABLE, None)
    except (binascii.Error, UnicodeError, ValueError):  # UnreadableJson is a ValueError
        pass
    try:
        data = jsontext.loads(raw)
        return (Encoding.PLAIN_JSON, data) if isinstance(data, dict) else (Encoding.UNREADABLE, None)
    except jsontext.UnreadableJson:
        return Encoding.UNREADABLE, None


def inspect_all(connection_string: str) -> list[PoisonQueue]:
    return [inspect(connection_string, poison_queue_of(t.queue)) for t in EventType]


def inspect(connection_string: str, queue: str) -> PoisonQueue:
    client = QueueClient.from_connection_string(connection_string, queue)  # raw text: no decode policy
    try:
        length = client.get_queue_properties().approximate_message_count or 0
        peeked = client.peek_messages(max_messages=PEEK_LIMIT) if length else []
    except ResourceNotFoundError:
        return PoisonQueue(queue, 0, ())
    return PoisonQueue(queue, length, tuple(_describe(queue, m) for m in peeked))


def _describe(queue: str, message: QueueMessage) -> PoisonMessage:
    encoding, data = classify(message.content or "")
    cid = data.get("correlation_id") if data else None
    kind = data.get("type") if data else None
    return PoisonMessage(
        queue, message.id, encoding,
        cid if isinstance(cid, str) and correlation.is_valid(cid) else None,
        kind if kind in {t.value for t in EventType} else None,
    )
