"""Cosmos containers owned by the game."""

from shared.cosmos import ContainerSpec

LOCATIONS = ContainerSpec("locations", "/id")
"""One document per world location (id, name, description, tags, exits, version), as seeded from the world file."""

PLAYERS = ContainerSpec("players", "/id", pseudonymous_keys=True)
"""One document per player: current location, recent event ids (idempotency), counters."""
