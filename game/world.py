"""The world file: loading and validating it, and seeding it into Cosmos.

The runtime world seed (``villageLocations.json``) is a list of locations with exits. A malformed file is rejected
before anything is written, with a message naming the file and the field (``villageLocations.json: [3].exits[1].to:
unknown location id``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from game.directions import DIRECTIONS
from shared.cosmos import InstrumentedContainer

Document = dict[str, Any]


class WorldFileError(ValueError):
    """The world file is malformed; the message names the file and the field."""


def load_world(path: Path) -> list[Document]:
    """Read and validate a world file; returns the location documents to store (ids unique, exits resolvable)."""
    if not path.is_file():
        raise WorldFileError(f"{path}: no such file (the world data is read from ../shared/data/world/, beside "
                             "the project folder)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorldFileError(f"{path.name}: not readable as JSON ({type(exc).__name__})") from None
    if not isinstance(data, list) or not data:
        raise WorldFileError(f"{path.name}: must be a non-empty JSON array of locations")
    locations = [_location(path.name, index, item) for index, item in enumerate(data)]
    _check_graph(path.name, locations)
    return locations


def seed(container: InstrumentedContainer, locations: Iterable[Document],
         progress: Callable[[int], None] | None = None) -> int:
    """Upsert every location (idempotent: seeding twice leaves the same documents)."""
    count = 0
    for location in locations:
        container.upsert(location, partition_key=location["id"])
        count += 1
        if progress is not None:
            progress(count)
    return count


def _location(file: str, index: int, item: object) -> Document:
    where = f"{file}: [{index}]"
    if not isinstance(item, dict):
        raise WorldFileError(f"{where}: must be an object")
    _require(where, item, "id", str, check=_is_uuid, problem="must be a UUID")
    for key in ("name", "description"):
        _require(where, item, key, str, check=lambda v: bool(v.strip()), problem="must not be empty")
    _require(where, item, "version", int, check=lambda v: v >= 1 and not isinstance(v, bool), problem="must be >= 1")
    _require(where, item, "tags", list, check=lambda v: all(isinstance(t, str) for t in v),
             problem="must be a list of strings")
    _require(where, item, "exits", list, check=lambda v: True, problem="")
    for number, exit_ in enumerate(item["exits"]):
        _exit(f"{where}.exits[{number}]", exit_)
    return dict(item)


def _exit(where: str, item: object) -> None:
    if not isinstance(item, dict):
        raise WorldFileError(f"{where}: must be an object")
    _require(where, item, "direction", str, check=lambda v: v in DIRECTIONS, problem="is not a known direction")
    _require(where, item, "to", str, check=_is_uuid, problem="must be a UUID")
    if "travelDurationMs" in item:
        _require(where, item, "travelDurationMs", int, check=lambda v: v >= 0, problem="must be >= 0")


def _check_graph(file: str, locations: list[Document]) -> None:
    seen: set[str] = set()
    for index, location in enumerate(locations):
        if location["id"] in seen:
            raise WorldFileError(f"{file}: [{index}].id: duplicate location id")
        seen.add(location["id"])
    for index, location in enumerate(locations):
        directions: set[str] = set()
        for number, exit_ in enumerate(location["exits"]):
            where = f"{file}: [{index}].exits[{number}]"
            if exit_["to"] not in seen:
                raise WorldFileError(f"{where}.to: unknown location id")
            if exit_["direction"] in directions:
                raise WorldFileError(f"{where}.direction: two exits share this direction")
            directions.add(exit_["direction"])


def _require(where: str, item: dict[str, Any], key: str, kind: type,
             check: Callable[[Any], bool], problem: str) -> None:
    if key not in item:
        raise WorldFileError(f"{where}.{key}: is required")
    value = item[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise WorldFileError(f"{where}.{key}: must be of type {kind.__name__}")
    if not check(value):
        raise WorldFileError(f"{where}.{key}: {problem}")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False
