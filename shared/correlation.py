"""Correlation ids and W3C trace context: validation, generation and the per-invocation context variable.

A correlation id travels from the HTTP request that started the work, through every queue hop (inside the message
envelope), to every span, event and log line. Client-sent ids are validated: the id becomes a dimension and a queue
field, so an unbounded or exotic string must never get that far.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from dataclasses import dataclass
from typing import Final

HEADER: Final = "x-correlation-id"
"""HTTP header carrying the correlation id, in requests and in every response."""

MAX_LENGTH: Final = 64
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$")
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REJECTED_MAX = 64

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


@dataclass(frozen=True)
class Accepted:
    """The correlation id an invocation will use, and the client's rejected one (escaped, bounded) if any."""

    correlation_id: str
    rejected: str | None = None


def new_id() -> str:
    return str(uuid.uuid4())


def is_valid(value: str) -> bool:
    """8–64 characters of ``[A-Za-z0-9._:-]`` starting with a letter or digit (UUIDs pass)."""
    return bool(_VALID.match(value))


def accept(raw: str | None) -> Accepted:
    """Keep a valid client id; replace an invalid one with a fresh UUID and keep a safe copy of the original."""
    if raw is None or raw == "":
        return Accepted(new_id())
    if is_valid(raw):
        return Accepted(raw)
    return Accepted(new_id(), rejected=escape(raw))


def escape(raw: str) -> str:
    """A bounded, printable, ASCII rendering of untrusted text for a diagnostic dimension."""
    rendered = raw.encode("unicode_escape", errors="backslashreplace").decode("ascii", errors="replace")
    return rendered[:_REJECTED_MAX] + ("..." if len(rendered) > _REJECTED_MAX else "")


def current() -> str | None:
    """Correlation id of the running invocation, or None outside one."""
    return _current.get()


def bind(correlation_id: str) -> contextvars.Token[str | None]:
    return _current.set(correlation_id)


def unbind(token: contextvars.Token[str | None]) -> None:
    _current.reset(token)


def parse_traceparent(value: str | None) -> tuple[str, str, int] | None:
    """(trace id, parent span id, flags) of a valid version-00 traceparent, else None (all-zero ids are invalid)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if not match:
        return None
    trace_id, span_id, flags = match.groups()
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id, int(flags, 16)
