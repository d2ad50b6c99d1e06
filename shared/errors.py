"""Stable error codes and the one error envelope every HTTP function answers with.

Codes are part of the API: clients and dashboards match on them, so they never change meaning. Messages name the
field at fault but never echo a value the caller sent (an unexpected key is named, escaped and bounded: it is the
field at fault), and never carry secrets or stack traces.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ErrorKind(enum.Enum):
    VALIDATION = "validation"
    """The input is wrong and will stay wrong: refuse it (HTTP 4xx, queue: dead-letter once)."""
    PERMANENT = "permanent"
    """The work cannot be done as asked (unknown player, budget exhausted): no retry will help."""
    TRANSIENT = "transient"
    """A dependency failed for now: HTTP 503, queue: raise so the host retries."""
    INTERNAL = "internal"
    """A bug: HTTP 500 with the correlation id, an exceptions row."""


class ErrorCode(enum.Enum):
    """(value, HTTP status, kind)."""

    INVALID_JSON = ("invalid_json", 400, ErrorKind.VALIDATION)
    VALIDATION_FAILED = ("validation_failed", 400, ErrorKind.VALIDATION)
    PAYLOAD_TOO_LARGE = ("payload_too_large", 413, ErrorKind.VALIDATION)
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", 415, ErrorKind.VALIDATION)
    INVALID_MESSAGE = ("invalid_message", 400, ErrorKind.VALIDATION)
    NOT_FOUND = ("not_found", 404, ErrorKind.PERMANENT)
    CONFLICT = ("conflict", 409, ErrorKind.PERMANENT)
    BUDGET_EXCEEDED = ("budget_exceeded", 429, ErrorKind.PERMANENT)
    DEPENDENCY_UNAVAILABLE = ("dependency_unavailable", 503, ErrorKind.TRANSIENT)
    THROTTLED = ("throttled", 503, ErrorKind.TRANSIENT)
    CONCURRENT_UPDATE = ("concurrent_update", 503, ErrorKind.TRANSIENT)
    """Optimistic concurrency lost every round: another writer kept changing the document. Retry later."""
    INTERNAL = ("internal_error", 500, ErrorKind.INTERNAL)

    def __init__(self, code: str, status: int, kind: ErrorKind) -> None:
        self.code = code
        self.status = status
        self.kind = kind


@dataclass
class AppError(Exception):
    """An expected failure with a stable code; ``field`` names the input field at fault, if any."""

    error: ErrorCode
    message: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.error.code}: {self.message}"

    def envelope(self, correlation_id: str) -> dict[str, object]:
        body: dict[str, object] = {"code": self.error.code, "message": self.message, "correlation_id": correlation_id}
        if self.field:
            body["field"] = self.field
        return {"error": body, "correlation_id": correlation_id}


def internal_error() -> AppError:
    return AppError(ErrorCode.INTERNAL, "internal error; quote the correlation id when reporting it")
