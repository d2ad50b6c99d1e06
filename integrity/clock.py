"""UTC time as integrity documents write it: ISO 8601 with a ``Z``, so stored strings sort chronologically."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime, timespec: str = "milliseconds") -> str:
    """``2026-12-03T19:05:00.000Z``; a naive datetime is refused (its zone would be a guess)."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no zone: pass an aware UTC datetime")
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def from_ts(seconds: object) -> str | None:
    """A Cosmos ``_ts`` (epoch seconds) as ISO 8601, or None when absent."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return None
    return iso(datetime.fromtimestamp(seconds, UTC), "seconds")
