"""Request bodies and queue payloads of the game's functions."""

from game.directions import DIRECTIONS, OTHER
from shared.schema import Field, Schema

UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

CREATE_PLAYER = Schema("create player", Field("start_location_id", str, required=False, pattern=UUID_PATTERN))
MOVE = Schema("move", Field("direction", str, max_length=32))
LOOK = Schema("look")
UPDATE_LOCATION = Schema(
    "update location",
    Field("name", str, required=False, max_length=120),
    Field("description", str, required=False, max_length=4000),
)

PLAYER_CREATED = Schema(
    "player created",
    Field("player_id", str, pattern=UUID_PATTERN),
    Field("location_id", str, pattern=UUID_PATTERN),
)
PLAYER_MOVE = Schema(
    "player move",
    Field("player_id", str, pattern=UUID_PATTERN),
    Field("direction", str, choices=DIRECTIONS | {OTHER}),
)
LOCATION_LOOK = Schema("location look", Field("player_id", str, pattern=UUID_PATTERN))
WORLD_CONTENT_UPDATED = Schema(
    "world content updated",
    Field("location_id", str, pattern=UUID_PATTERN),
    Field("name", str, required=False, max_length=120),
    Field("description", str, required=False, max_length=4000),
)
