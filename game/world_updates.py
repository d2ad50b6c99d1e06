"""Operator edits of world content made through the app: applied once per event, then sealed into the integrity
baseline so that they are not reported as drift (only out-of-band edits are)."""

from __future__ import annotations

from typing import Any

from game.containers import LOCATIONS
from shared.errors import AppError, ErrorCode
from shared.runtime import Services

_CONFLICT_ATTEMPTS = 8
_SYSTEM = ("_rid", "_self", "_etag", "_attachments", "_ts")


def apply(services: Services, location_id: str, changes: dict[str, Any], event_id: str) -> bool:
    """Apply ``changes`` for ``event_id`` once; False when this event was already applied."""
    from integrity import baseline  # the integrity logic loads on first use, not when the app is indexed

    container = services.cosmos.container(LOCATIONS)
    for _ in range(_CONFLICT_ATTEMPTS):
        current = container.read(location_id, partition_key=location_id)
        if current is None:
            raise AppError(ErrorCode.NOT_FOUND, "no such location", field="location_id")
        if current.get("updated_by_event") == event_id:
            # Already applied; seal it again (idempotent) in case the first delivery died before sealing.
            baseline.record_update(services.cosmos, location_id, current)
            return False
        updated = {k: v for k, v in current.items() if k not in _SYSTEM}
        updated.update(changes, version=int(current.get("version", 1)) + 1, updated_by_event=event_id)
        if container.replace_if_match(updated, location_id, etag=current["_etag"]) is not None:
            baseline.record_update(services.cosmos, location_id, updated)
            return True
    raise AppError(ErrorCode.CONCURRENT_UPDATE, "the location is being changed concurrently; retry later")
