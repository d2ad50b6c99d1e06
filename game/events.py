"""Events the game's handlers emit."""

from shared.telemetry import attributes as attr
from shared.telemetry.events import Sampling, define

PLAYER_CREATED = define(
    "Player.Created",
    "A new player was stored at its start location.",
    [attr.PLAYER_ID, attr.LOCATION_ID],
    sampling=Sampling.SAMPLED,
    module=__name__,
)
MOVE_SUCCEEDED = define(
    "Navigation.Move.Succeeded",
    "A player moved along a real exit of the world graph.",
    [attr.PLAYER_ID, attr.LOCATION_ID, attr.TARGET_LOCATION_ID, attr.EXIT_DIRECTION],
    sampling=Sampling.SAMPLED,
    module=__name__,
)
MOVE_BLOCKED = define(
    "Navigation.Move.Blocked",
    "A move was refused: no exit that way, an exit still pending or forbidden, or a direction not understood.",
    [attr.PLAYER_ID, attr.LOCATION_ID, attr.EXIT_DIRECTION, attr.MOVE_REASON],
    sampling=Sampling.SAMPLED,
    module=__name__,
)
LOCATION_VIEWED = define(
    "Location.Description.Viewed",
    "A player looked at the location it stands in.",
    [attr.PLAYER_ID, attr.LOCATION_ID, attr.ITEM_COUNT],
    sampling=Sampling.SAMPLED,
    module=__name__,
)
LOCATION_UPDATED = define(
    "World.Location.Updated",
    "An operator changed a location's text through the app; the integrity baseline was extended to match.",
    [attr.LOCATION_ID, attr.ACTOR_KIND],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
