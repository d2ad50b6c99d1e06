"""One operation id from HTTP through the queue to Cosmos, read back from the stored telemetry rows.

Field case 1 (queue hop keeps the trace, records the wait), the correlation id echoed in headers and bodies, a bad
client correlation id replaced and never propagated, and error envelopes that are never bare 500s.
"""

from __future__ import annotations

import json
import secrets
import uuid

import pytest

from game.containers import LOCATIONS
from local.app import RunningApp
from local.telemetry_rows import TelemetryRows, dim
from shared.cosmos import CosmosGateway

JETTY = "a4d1c3f1-5b2a-4f7d-9d4b-8f0c2a6b7e21"
NORTH_OF_JETTY = "f7c9b2ad-1e34-4c6f-8d5a-2b7e9c4f1a53"


def _traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def _create_player(app: RunningApp) -> str:
    reply = app.post("/api/players", {"start_location_id": JETTY})
    assert reply.status == 202, reply.body
    return reply.body["player_id"]


def test_one_operation_id_from_http_through_queue_to_cosmos(running_app: RunningApp, rows: TelemetryRows) -> None:
    player = _create_player(running_app)
    running_app.wait_idle()
    trace_id, traceparent = _traceparent()
    cid = f"test-{uuid.uuid4()}"
    reply = running_app.post(f"/api/players/{player}/moves", {"direction": "North"},
                             headers={"traceparent": traceparent, "x-correlation-id": cid})
    assert reply.status == 202
    assert reply.headers["x-correlation-id"] == cid and reply.body["correlation_id"] == cid
    running_app.wait_idle()

    requests = rows.wait("requests", lambda r: r["operation_Id"] == trace_id, count=2)
    assert sorted(r["name"] for r in requests) == ["Players.Move", "Queue.PlayerMove"]
    http, consumer = sorted(requests, key=lambda r: r["name"])
    assert (http["resultCode"], http["success"]) == ("202", True)
    assert dim(consumer, "game.queue.dequeue_count") == "1"  # customDimensions values are strings
    assert 0 <= int(dim(consumer, "game.queue.wait_ms")) < 30_000
    assert dim(consumer, "game.event.type") == "player.move"
    story = rows.operation(trace_id)
    dependency_names = sorted(d["name"] for d in story["dependencies"])
    assert "player-move send" in dependency_names
    assert {"players read_item", "locations read_item", "players replace_item"} <= set(dependency_names)
    producer = next(d for d in story["dependencies"] if d["name"] == "player-move send")
    assert consumer["operation_ParentId"] == producer["id"]  # the handler continues the producer span
    assert producer["operation_ParentId"] == http["id"]
    cosmos = [d for d in story["dependencies"] if d.get("type", "").lower() == "cosmosdb"]
    assert cosmos and all(dim(d, "azure.cosmosdb.operation.request_charge") is not None for d in cosmos)
    moved = rows.wait("customEvents", lambda r: r["operation_Id"] == trace_id and
                      r["name"] == "Navigation.Move.Succeeded")
    assert len(moved) == 1
    assert dim(moved[0], "game.location.target_id") == NORTH_OF_JETTY
    assert dim(moved[0], "game.player.id").startswith("p_") and player not in json.dumps(moved[0])
    for row in requests + story["dependencies"] + moved:
        assert dim(row, "game.correlation_id") == cid


def test_no_row_is_stored_twice(running_app: RunningApp, rows: TelemetryRows) -> None:
    _create_player(running_app)
    running_app.wait_idle()
    spans = rows.table("requests") + rows.table("dependencies")
    ids = [r["id"] for r in spans]
    assert len(ids) > 5 and len(ids) == len(set(ids))
    events = [(r["operation_Id"], r["operation_ParentId"], r["name"], r["timestamp"]) for r in
              rows.table("customEvents")]
    assert len(events) == len(set(events))


def test_invalid_client_correlation_id_is_replaced_and_never_propagated(running_app: RunningApp,
                                                                        rows: TelemetryRows) -> None:
    bad = "bad id with spaces <" + "x" * 100
    trace_id, traceparent = _traceparent()
    reply = running_app.post("/api/players", {"start_location_id": JETTY},
                             headers={"x-correlation-id": bad, "traceparent": traceparent})
    assert reply.status == 202
    fresh = reply.headers["x-correlation-id"]
    assert fresh != bad and str(uuid.UUID(fresh)) == fresh and reply.body["correlation_id"] == fresh
    running_app.wait_idle()
    replaced = rows.wait("customEvents", lambda r: r["operation_Id"] == trace_id and
                         r["name"] == "Correlation.Id.Replaced")
    assert len(replaced) == 1
    assert dim(replaced[0], "game.correlation_id.rejected").startswith("bad id with spaces <xxx")
    consumer = rows.wait("requests", lambda r: r["operation_Id"] == trace_id and r["name"] == "Queue.PlayerCreated")
    assert dim(consumer[0], "game.correlation_id") == fresh
    everything = json.dumps(rows.operation(trace_id))
    assert everything.count("bad id with spaces") == 1  # only the bounded, escaped copy in that one event


@pytest.mark.parametrize(("raw", "content_type", "status", "code", "field"), [
    (b"{not json", "application/json", 400, "invalid_json", "body"),
    (b'{"direction": 7}', "application/json", 400, "validation_failed", "direction"),
    (b'{"direction": "north", "extra": 1}', "application/json", 400, "validation_failed", "extra"),
    (b'{"direction": "north"}', "text/plain", 415, "unsupported_media_type", "content-type"),
    (b'{"direction": "' + b"n" * 40_000 + b'"}', "application/json", 413, "payload_too_large", "body"),
    (b"[" * 5000 + b"]" * 5000, "application/json", 400, "invalid_json", "body"),  # RecursionError in json
    (b'{"direction": ' + b"9" * 5000 + b"}", "application/json", 400, "invalid_json", "body"),  # digit limit
    (b'{"direction": "\xff"}', "application/json", 400, "invalid_json", "body"),
    (b'{"direction": "\\ud800"}', "application/json", 400, "invalid_json", "body"),  # a lone surrogate
])
def test_bad_bodies_get_a_stable_error_envelope(running_app: RunningApp, rows: TelemetryRows, raw: bytes,
                                                 content_type: str, status: int, code: str, field: str) -> None:
    trace_id, traceparent = _traceparent()
    reply = running_app.request("POST", f"/api/players/{uuid.uuid4()}/moves", raw=raw,
                                headers={"content-type": content_type, "traceparent": traceparent})
    assert reply.status == status
    error = reply.body["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["correlation_id"] == reply.headers["x-correlation-id"] == reply.body["correlation_id"]
    assert "Traceback" not in json.dumps(reply.body)
    [row] = rows.wait("requests", lambda r: r["operation_Id"] == trace_id)
    assert (row["name"], row["resultCode"], row["success"]) == ("Players.Move", str(status), False)
    assert dim(row, "game.outcome") == "rejected" and dim(row, "game.error.code") == code


def test_stored_text_utf8_cannot_encode_is_still_answered(running_app: RunningApp) -> None:
    """An out-of-band edit can store a lone surrogate (the app's own readers refuse one): reading it back must be
    a JSON answer with the correlation id, not a bare 500 from encoding the body after the wrapper is done."""
    settings = running_app.settings
    gateway = CosmosGateway(settings["COSMOS_ENDPOINT"], settings["COSMOS_KEY"], settings["COSMOS_DATABASE"])
    location_id = str(uuid.uuid4())
    gateway.container(LOCATIONS).upsert({"id": location_id, "name": "Broken \ud800 Sign", "description": "d",
                                         "exits": [], "tags": [], "version": 1}, partition_key=location_id)
    reply = running_app.get(f"/api/locations/{location_id}")
    assert reply.status == 200 and reply.headers["x-correlation-id"] == reply.body["correlation_id"]
    assert reply.body["name"] == "Broken \ud800 Sign"


def test_unknown_entities_are_404_envelopes(running_app: RunningApp) -> None:
    missing = running_app.get(f"/api/locations/{uuid.uuid4()}")
    assert missing.status == 404 and missing.body["error"]["code"] == "not_found"
    not_uuid = running_app.get("/api/locations/not-a-uuid")
    assert not_uuid.status == 400 and not_uuid.body["error"]["field"] == "location_id"
