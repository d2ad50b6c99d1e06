"""Cosmos containers owned by the AI cost package."""

from shared.cosmos import ContainerSpec

USAGE = ContainerSpec("ai_usage", "/id")
"""One record per generation (id = generation id, partition key = id): the billing ledger. Writers never share a
document or a logical partition (field case 9), and a redelivery finds its record by a point read wherever the
hour boundary fell. Each record carries its UTC ``hour``; the rollup queries records by hour."""

BUDGETS = ContainerSpec("ai_budgets", "/feature")
"""One document per (feature, UTC hour): cap, spent, reserved, pending reservations and the soft-alert flag, updated
with ETag optimistic concurrency so that admission is atomic."""

ROLLUPS = ContainerSpec("ai_rollups", "/period")
"""Per period (``hour:…`` / ``day:…``): one rollup document per (model, feature) with deterministic ids, and a
``final`` marker created last, exactly once."""
