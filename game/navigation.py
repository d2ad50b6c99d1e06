"""Whether a move succeeds, decided from the location document alone (pure, so it is tested without Cosmos)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from game.directions import OTHER


class BlockReason(enum.Enum):
    NO_EXIT = "no_exit"
    PENDING = "pending"
    """The exit exists in the story but is not open yet (``exitAvailability.pending``)."""
    FORBIDDEN = "forbidden"
    UNKNOWN_DIRECTION = "unknown_direction"


@dataclass(frozen=True)
class MoveDecision:
    target: str | None
    reason: BlockReason | None

    @property
    def succeeded(self) -> bool:
        return self.target is not None


def decide(location: dict[str, Any], direction: str) -> MoveDecision:
    if direction == OTHER:
        return MoveDecision(None, BlockReason.UNKNOWN_DIRECTION)
    for exit_ in location.get("exits", []):
        if exit_.get("direction") == direction:
            return MoveDecision(exit_["to"], None)
    availability = location.get("exitAvailability") or {}
    if direction in (availability.get("forbidden") or {}):
        return MoveDecision(None, BlockReason.FORBIDDEN)
    if direction in (availability.get("pending") or {}):
        return MoveDecision(None, BlockReason.PENDING)
    return MoveDecision(None, BlockReason.NO_EXIT)
