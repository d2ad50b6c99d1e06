"""The world file loader accepts the real world and names file and field for every kind of malformation."""

import json
from pathlib import Path

import pytest

from game.world import WorldFileError, load_world

WORLD = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "world" / "villageLocations.json"


def test_real_world_loads_with_all_locations_and_exits() -> None:
    locations = load_world(WORLD)
    assert len(locations) == 35
    assert sum(len(loc["exits"]) for loc in locations) == 86


def _broken(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    data = json.loads(WORLD.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "villageLocations.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d[3]["exits"][1].update(to="00000000-0000-4000-8000-000000000000"),
     "[3].exits[1].to: unknown location id"),
    (lambda d: d[0].pop("name"), "[0].name: is required"),
    (lambda d: d[2].update(id="not-a-uuid"), "[2].id: must be a UUID"),
    (lambda d: d[5]["exits"][0].update(direction="sideways"), "[5].exits[0].direction: is not a known direction"),
    (lambda d: d[1].update(version="3"), "[1].version: must be of type int"),
    (lambda d: d.append(dict(d[0])), "[35].id: duplicate location id"),
    (lambda d: d[4].update(description="   "), "[4].description: must not be empty"),
])
def test_malformed_world_names_file_and_field(tmp_path: Path, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WorldFileError) as raised:
        load_world(_broken(tmp_path, mutate))
    assert str(raised.value) == f"villageLocations.json: {expected}"


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "villageLocations.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(WorldFileError, match=r"^villageLocations.json: not readable as JSON"):
        load_world(path)


def test_a_missing_world_file_names_its_path_and_where_the_data_lives(tmp_path: Path) -> None:
    missing = tmp_path / "shared" / "data" / "world" / "villageLocations.json"
    with pytest.raises(WorldFileError, match=r"villageLocations.json: no such file \(the world data is read from "
                                             r"\.\./shared/data/world/") as raised:
        load_world(missing)
    assert str(missing) in str(raised.value)
