"""Every operation the app serves, one per function: the span name, the ``game.operation`` dimension and the
sampling key. Timers and operator actions are always kept; routine player traffic follows the sampling rate."""

from __future__ import annotations

import enum


class Operation(str, enum.Enum):
    # HTTP
    PLAYER_CREATE = "Players.Create"
    PLAYER_MOVE = "Players.Move"
    PLAYER_LOOK = "Players.Look"
    LOCATION_GET = "Locations.Get"
    WORLD_UPDATE = "World.Update"
    AI_ESTIMATE = "Ai.Estimate"
    AI_COMPLETE = "Ai.Complete"
    AI_COST_REPORT = "Ai.CostReport"
    INTEGRITY_REPORT = "Integrity.Report"
    # Queue
    ON_PLAYER_CREATED = "Queue.PlayerCreated"
    ON_PLAYER_MOVE = "Queue.PlayerMove"
    ON_LOCATION_LOOK = "Queue.LocationLook"
    ON_AI_GENERATION_COMPLETED = "Queue.AiGenerationCompleted"
    ON_WORLD_CONTENT_UPDATED = "Queue.WorldContentUpdated"
    # Timers
    COST_ROLLUP = "Timer.CostRollup"
    INTEGRITY_CHECK = "Timer.IntegrityCheck"
    POISON_SCAN = "Timer.PoisonScan"

    def __str__(self) -> str:
        return self.value


ALWAYS_KEPT: frozenset[str] = frozenset({
    Operation.WORLD_UPDATE.value, Operation.COST_ROLLUP.value, Operation.INTEGRITY_CHECK.value,
    Operation.POISON_SCAN.value, Operation.INTEGRITY_REPORT.value, Operation.AI_COST_REPORT.value,
})
