"""Hour and day periods as sortable UTC keys: ``2026-12-03T19`` (an hour) and ``2026-12-03`` (a day)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is refused (its zone would be a guess)."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no zone: pass an aware UTC datetime")
    return moment.astimezone(UTC)


def hour_start(moment: datetime) -> datetime:
    return utc(moment).replace(minute=0, second=0, microsecond=0)


def hour_key(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%dT%H")


def day_key(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%d")


def parse_hour(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def day_of_hour(key: str) -> str:
    return key[:10]


def hours(first: datetime, last: datetime) -> Iterator[datetime]:
    """Hour starts from ``first`` to ``last`` inclusive."""
    current = hour_start(first)
    while current <= last:
        yield current
        current += HOUR


def iso(moment: datetime) -> str:
    return utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")
