"""Generation ids: UUIDv7 (RFC 9562), so an id issued by an estimate tells when its budget reservation was made.

The completion report carries only the generation id; its timestamp names the budget window holding the reservation,
so settling needs no lookup table. Ids not issued here (any other UUID) simply have no reservation window.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

from cost.periods import utc


def new_id(now: datetime) -> str:
    millis = int(utc(now).timestamp() * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62) | secrets.randbits(62)
    return str(uuid.UUID(int=value))


def issued_at(generation_id: str) -> datetime | None:
    """When a UUIDv7 id was issued; ``None`` for any other UUID."""
    try:
        parsed = uuid.UUID(generation_id)
    except ValueError:
        return None
    if parsed.version != 7:
        return None
    return datetime.fromtimestamp((parsed.int >> 80) / 1000, UTC)
