"""The versioned queue message envelope: what every game event looks like on a queue.

Storage queues carry no metadata of their own, so the correlation id and W3C trace context travel in the body.
:func:`parse` is strict: a message that is not a valid envelope is a permanent failure (dead-lettered once, with
the reason), never retried five times.
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from shared import correlation, jsontext
from shared.errors import AppError, ErrorCode

VERSION = 1
MAX_MESSAGE_BYTES = 48 * 1024
"""Storage queue messages are limited to 64 KiB; base64 adds a third."""


class EventType(enum.Enum):
    """Every queued game event type, with the queue it travels on (one queue per type: separate poison queues)."""

    PLAYER_CREATED = "player.created"
    PLAYER_MOVE = "player.move"
    LOCATION_LOOK = "location.look"
    AI_GENERATION_COMPLETED = "ai.generation.completed"
    WORLD_CONTENT_UPDATED = "world.content.updated"

    @property
    def queue(self) -> str:
        return self.value.replace(".", "-")


@dataclass(frozen=True)
class Envelope:
    version: int
    event_id: str
    type: str
    occurred_at: str
    correlation_id: str
    traceparent: str | None
    tracestate: str | None
    enqueued_at: str
    payload: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @property
    def event_type(self) -> EventType:
        return EventType(self.type)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build(event_type: EventType, payload: dict[str, Any], *, correlation_id: str, traceparent: str | None,
          tracestate: str | None, event_id: str | None = None, occurred_at: str | None = None) -> Envelope:
    stamp = now_iso()
    return Envelope(VERSION, event_id or str(uuid.uuid4()), event_type.value, occurred_at or stamp, correlation_id,
                    traceparent, tracestate, stamp, payload)


def parse(body: bytes | str) -> Envelope:
    """Validate a received message body; :class:`AppError` (``invalid_message``) names the field at fault."""
    try:
        data = jsontext.loads(body)
    except jsontext.UnreadableJson as error:
        raise invalid("body", str(error)) from None
    if not isinstance(data, dict):
        raise invalid("body", "is not a JSON object")
    if data.get("version") != VERSION:
        raise invalid("version", f"must be {VERSION}")
    _require_uuid(data, "event_id")
    if data.get("type") not in {t.value for t in EventType}:
        raise invalid("type", "is not a known event type")
    if not isinstance(data.get("correlation_id"), str) or not correlation.is_valid(data["correlation_id"]):
        raise invalid("correlation_id", "is missing or invalid")
    for name in ("occurred_at", "enqueued_at"):
        _require_time(data, name)
    if not isinstance(data.get("payload"), dict):
        raise invalid("payload", "must be an object")
    traceparent = data.get("traceparent")
    return Envelope(
        VERSION, data["event_id"], data["type"], data["occurred_at"], data["correlation_id"],
        traceparent if correlation.parse_traceparent(traceparent) else None,
        data.get("tracestate") if isinstance(data.get("tracestate"), str) else None,
        data["enqueued_at"], data["payload"],
    )


def salvage_correlation_id(body: bytes | str) -> str | None:
    """Best effort for diagnostics: the correlation id of a message that failed to parse, if it has a valid one."""
    try:
        data = jsontext.loads(body)
    except jsontext.UnreadableJson:
        return None
    value = data.get("correlation_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and correlation.is_valid(value) else None


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _require_uuid(data: dict[str, Any], name: str) -> None:
    try:
        uuid.UUID(str(data.get(name)))
    except ValueError:
        raise invalid(name, "must be a UUID") from None


def _require_time(data: dict[str, Any], name: str) -> None:
    value = data.get(name)
    try:
        if not isinstance(value, str):
            raise ValueError
        parse_time(value).astimezone(UTC)  # 9999-12-31T23:59-14:00 parses, then overflows in any UTC arithmetic
    except (ValueError, OverflowError):
        raise invalid(name, "must be an ISO 8601 time") from None


def invalid(field: str, problem: str) -> AppError:
    return AppError(ErrorCode.INVALID_MESSAGE, f"message field '{field}' {problem}", field=field)
