"""The game's functions: HTTP endpoints accept and enqueue, queue handlers change state and emit domain events."""

from __future__ import annotations

import re
import uuid
from typing import Any

import azure.functions as func

from game import directions, navigation, players, schemas, world_updates
from game.containers import LOCATIONS, PLAYERS
from game.events import LOCATION_UPDATED, LOCATION_VIEWED, MOVE_BLOCKED, MOVE_SUCCEEDED, PLAYER_CREATED
from shared.envelope import EventType
from shared.errors import AppError, ErrorCode
from shared.handlers import HttpCall, QueueCall, Reply, http_function, queue_function
from shared.handlers.queue import Handled
from shared.operations import Operation
from shared.runtime import Services
from shared.settings import STORAGE_CONNECTION
from shared.telemetry import attributes as attr
from shared.telemetry import emit

bp = func.Blueprint()

DEFAULT_START = "a4d1c3f1-5b2a-4f7d-9d4b-8f0c2a6b7e21"
"""Mosswell River Jetty: the hub of the real world file, where new players start."""
_UUID = re.compile(schemas.UUID_PATTERN)


def _route_id(call: HttpCall, name: str) -> str:
    value = call.route.get(name, "")
    if not _UUID.fullmatch(value):
        raise AppError(ErrorCode.VALIDATION_FAILED, f"route parameter '{name}' must be a UUID", field=name)
    return value.lower()


def _location(services: Services, location_id: str) -> dict[str, Any]:
    found = services.cosmos.container(LOCATIONS).read(location_id, partition_key=location_id)
    if found is None:
        raise AppError(ErrorCode.NOT_FOUND, "no such location", field="location_id")
    return found


@bp.route(route="players", methods=["POST"])
@http_function(Operation.PLAYER_CREATE, route="players", body=schemas.CREATE_PLAYER)
def create_player(call: HttpCall) -> Reply:
    location_id = call.body.get("start_location_id", DEFAULT_START).lower()
    _location(call.services, location_id)
    player_id = str(uuid.uuid4())
    call.services.producer.send(EventType.PLAYER_CREATED, {"player_id": player_id, "location_id": location_id})
    return Reply(202, {"player_id": player_id, "location_id": location_id})


@bp.route(route="players/{player_id}/moves", methods=["POST"])
@http_function(Operation.PLAYER_MOVE, route="players/{player_id}/moves", body=schemas.MOVE)
def move_player(call: HttpCall) -> Reply:
    player_id = _route_id(call, "player_id")
    direction = directions.normalise(call.body["direction"])
    message = call.services.producer.send(EventType.PLAYER_MOVE, {"player_id": player_id, "direction": direction})
    return Reply(202, {"event_id": message.event_id, "direction": direction})


@bp.route(route="players/{player_id}/look", methods=["POST"])
@http_function(Operation.PLAYER_LOOK, route="players/{player_id}/look", body=schemas.LOOK)
def look(call: HttpCall) -> Reply:
    player_id = _route_id(call, "player_id")
    message = call.services.producer.send(EventType.LOCATION_LOOK, {"player_id": player_id})
    return Reply(202, {"event_id": message.event_id})


@bp.route(route="locations/{location_id}", methods=["GET"])
@http_function(Operation.LOCATION_GET, route="locations/{location_id}")
def get_location(call: HttpCall) -> Reply:
    location = _location(call.services, _route_id(call, "location_id"))
    exits = [{"direction": e["direction"], "description": e.get("description", "")} for e in location["exits"]]
    return Reply(200, {"id": location["id"], "name": location["name"], "description": location["description"],
                       "exits": exits})


@bp.route(route="locations/{location_id}", methods=["PUT"])
@http_function(Operation.WORLD_UPDATE, route="locations/{location_id}", body=schemas.UPDATE_LOCATION)
def update_location(call: HttpCall) -> Reply:
    location_id = _route_id(call, "location_id")
    if not call.body:
        raise AppError(ErrorCode.VALIDATION_FAILED, "give at least one of 'name' or 'description'", field="body")
    message = call.services.producer.send(EventType.WORLD_CONTENT_UPDATED, {"location_id": location_id, **call.body})
    return Reply(202, {"event_id": message.event_id})


@bp.queue_trigger(arg_name="msg", queue_name=EventType.PLAYER_CREATED.queue, connection=STORAGE_CONNECTION)
@queue_function(Operation.ON_PLAYER_CREATED, EventType.PLAYER_CREATED, payload=schemas.PLAYER_CREATED)
def on_player_created(call: QueueCall) -> Handled:
    player_id, location_id = call.payload["player_id"], call.payload["location_id"]
    stored = call.services.cosmos.container(PLAYERS).create(
        players.new_player(player_id, location_id, call.envelope.event_id), partition_key=player_id
    )
    if stored is None:
        return Handled(duplicate=True)
    emit(PLAYER_CREATED, {attr.PLAYER_ID: player_id, attr.LOCATION_ID: location_id})
    return Handled()


@bp.queue_trigger(arg_name="msg", queue_name=EventType.PLAYER_MOVE.queue, connection=STORAGE_CONNECTION)
@queue_function(Operation.ON_PLAYER_MOVE, EventType.PLAYER_MOVE, payload=schemas.PLAYER_MOVE)
def on_player_move(call: QueueCall) -> Handled:
    player_id, direction = call.payload["player_id"], call.payload["direction"]

    def move(player: dict[str, Any]) -> tuple[str, navigation.MoveDecision]:
        origin = player["location_id"]
        decision = navigation.decide(_location(call.services, origin), direction)
        if decision.succeeded:
            player["location_id"] = decision.target
            player["moves"] = player.get("moves", 0) + 1
        else:
            player["blocked_moves"] = player.get("blocked_moves", 0) + 1
        return origin, decision

    outcome = players.apply_once(call.services.cosmos.container(PLAYERS), player_id, call.envelope.event_id, move)
    if outcome is None:
        return Handled(duplicate=True)
    origin, decision = outcome
    dims = {attr.PLAYER_ID: player_id, attr.LOCATION_ID: origin, attr.EXIT_DIRECTION: direction}
    if decision.succeeded:
        emit(MOVE_SUCCEEDED, {**dims, attr.TARGET_LOCATION_ID: decision.target})
    else:
        emit(MOVE_BLOCKED, {**dims, attr.MOVE_REASON: decision.reason.value if decision.reason else None})
    return Handled()


@bp.queue_trigger(arg_name="msg", queue_name=EventType.LOCATION_LOOK.queue, connection=STORAGE_CONNECTION)
@queue_function(Operation.ON_LOCATION_LOOK, EventType.LOCATION_LOOK, payload=schemas.LOCATION_LOOK)
def on_location_look(call: QueueCall) -> Handled:
    player_id = call.payload["player_id"]

    def look_around(player: dict[str, Any]) -> tuple[str, int]:
        player["looks"] = player.get("looks", 0) + 1
        location = _location(call.services, player["location_id"])
        return location["id"], len(location["exits"])

    outcome = players.apply_once(call.services.cosmos.container(PLAYERS), player_id, call.envelope.event_id,
                                 look_around)
    if outcome is None:
        return Handled(duplicate=True)
    emit(LOCATION_VIEWED, {attr.PLAYER_ID: player_id, attr.LOCATION_ID: outcome[0], attr.ITEM_COUNT: outcome[1]})
    return Handled()


@bp.queue_trigger(arg_name="msg", queue_name=EventType.WORLD_CONTENT_UPDATED.queue, connection=STORAGE_CONNECTION)
@queue_function(Operation.ON_WORLD_CONTENT_UPDATED, EventType.WORLD_CONTENT_UPDATED,
                payload=schemas.WORLD_CONTENT_UPDATED)
def on_world_content_updated(call: QueueCall) -> Handled:
    location_id = call.payload["location_id"]
    changes = {k: call.payload[k] for k in ("name", "description") if k in call.payload}
    if not world_updates.apply(call.services, location_id, changes, call.envelope.event_id):
        return Handled(duplicate=True)
    emit(LOCATION_UPDATED, {attr.LOCATION_ID: location_id, attr.ACTOR_KIND: "operator"})
    return Handled()
