"""Move decisions on the real world graph and direction normalisation (bounded cardinality)."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from game import directions, navigation
from game.world import load_world

WORLD = {loc["id"]: loc for loc in load_world(
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "world" / "villageLocations.json")}
JETTY = WORLD["a4d1c3f1-5b2a-4f7d-9d4b-8f0c2a6b7e21"]


def test_every_real_exit_succeeds_to_its_target() -> None:
    for location in WORLD.values():
        for exit_ in location["exits"]:
            decision = navigation.decide(location, exit_["direction"])
            assert decision.target == exit_["to"] and decision.reason is None


def test_blocked_reasons() -> None:
    forbidden = next(loc for loc in WORLD.values() if (loc.get("exitAvailability") or {}).get("forbidden"))
    direction = next(iter(forbidden["exitAvailability"]["forbidden"]))
    assert navigation.decide(forbidden, direction).reason is navigation.BlockReason.FORBIDDEN
    pending = next(loc for loc in WORLD.values() if (loc.get("exitAvailability") or {}).get("pending"))
    pending_dir = next(iter(pending["exitAvailability"]["pending"]))
    assert navigation.decide(pending, pending_dir).reason is navigation.BlockReason.PENDING
    assert navigation.decide(JETTY, "up").reason is navigation.BlockReason.NO_EXIT
    assert navigation.decide(JETTY, directions.OTHER).reason is navigation.BlockReason.UNKNOWN_DIRECTION


@pytest.mark.parametrize(("typed", "expected"), [
    ("North", "north"), ("  nw ", "northwest"), ("SOUTH-EAST", "southeast"), ("enter", "in"),
    ("norht", "other"), ("DROP TABLE players", "other"),
])
def test_normalise(typed: str, expected: str) -> None:
    assert directions.normalise(typed) == expected


@given(st.text(max_size=64))
def test_normalised_direction_is_always_in_the_closed_set(typed: str) -> None:
    assert directions.normalise(typed) in directions.DIRECTIONS | {directions.OTHER}
