"""Player documents: creation and event-idempotent updates with optimistic concurrency.

Each player document remembers the ids of the last events applied to it, and every change is written with
``If-Match`` on the ETag it was computed from: a redelivered event finds its id and changes nothing; two events for
one player racing on different instances cannot both win with stale state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from shared.cosmos import InstrumentedContainer
from shared.errors import AppError, ErrorCode

RECENT_EVENTS = 64
_CONFLICT_ATTEMPTS = 8

Document = dict[str, Any]
T = TypeVar("T")


def new_player(player_id: str, location_id: str, event_id: str) -> Document:
    return {"id": player_id, "location_id": location_id, "created_at": datetime.now(UTC).isoformat(),
            "moves": 0, "blocked_moves": 0, "looks": 0, "recent_events": [event_id]}


def load(players: InstrumentedContainer, player_id: str) -> Document:
    player = players.read(player_id, partition_key=player_id)
    if player is None:
        raise AppError(ErrorCode.NOT_FOUND, "no such player", field="player_id")
    return player


def apply_once(players: InstrumentedContainer, player_id: str, event_id: str,
               change: Callable[[Document], T]) -> T | None:
    """Apply ``change`` (which edits the player and returns what happened) for ``event_id`` exactly once.

    Returns ``None`` when the event was already applied. ``change`` may run more than once if another writer
    wins the race, so it must only compute from the document it is given.
    """
    for _ in range(_CONFLICT_ATTEMPTS):
        player = load(players, player_id)
        if event_id in player.get("recent_events", []):
            return None
        result = change(player)
        player["recent_events"] = (player.get("recent_events", []) + [event_id])[-RECENT_EVENTS:]
        if players.replace_if_match(_strip_system(player), player_id, etag=player["_etag"]) is not None:
            return result
    raise AppError(ErrorCode.CONCURRENT_UPDATE, "the player is being changed concurrently; retry later")


def _strip_system(document: Document) -> Document:
    return {k: v for k, v in document.items() if k not in ("_rid", "_self", "_etag", "_attachments", "_ts")}
