"""Property-based garbage against the running app: no HTTP 500, no unhandled exception, no lost message."""

from __future__ import annotations

import base64
import json
import uuid

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.app import RunningApp
from local.telemetry_rows import TelemetryRows, dim
from shared import envelope
from shared.envelope import EventType

ROUTES = [("POST", "/api/players"), ("POST", "/api/players/{id}/moves"), ("POST", "/api/players/{id}/look"),
          ("GET", "/api/locations/{id}"), ("PUT", "/api/locations/{id}"), ("POST", "/api/ai/estimate"),
          ("POST", "/api/ai/completions")]
ALLOWED = {200, 202, 400, 404, 413, 415, 429}
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                 max_size=5), max_leaves=12)
BODIES = (JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=300)
          | st.dictionaries(st.sampled_from(["direction", "start_location_id", "feature", "model", "messages",
                                             "usage", "name", "description", "generation_id"]), JSON,
                            max_size=4).map(lambda v: json.dumps(v).encode()))
IDS = st.sampled_from([str(uuid.uuid4()), "not-a-uuid", "a4d1c3f1-5b2a-4f7d-9d4b-8f0c2a6b7e21", "%20", "1" * 300])
SLOW = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SLOW
@given(route=st.sampled_from(ROUTES), body=BODIES, ident=IDS,
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]),
       cid=st.one_of(st.none(), st.text(max_size=80)))
def test_http_garbage_never_gets_a_500(running_app: RunningApp, route: tuple[str, str], body: bytes, ident: str,
                                       content_type: str, cid: str | None) -> None:
    method, path = route
    headers = {"content-type": content_type}
    if cid is not None and cid.isprintable() and cid.isascii():
        headers["x-correlation-id"] = cid
    reply = running_app.request(method, path.replace("{id}", ident), raw=body if method != "GET" else None,
                                headers=headers)
    assert reply.status in ALLOWED, (reply.status, reply.body)
    assert reply.body["correlation_id"] == reply.headers["x-correlation-id"]
    if reply.status >= 400:
        assert set(reply.body["error"]) >= {"code", "message", "correlation_id"}


PAYLOADS = st.dictionaries(st.sampled_from(["player_id", "direction", "extra"]),
                           st.one_of(st.text(max_size=20), st.integers(), st.sampled_from(["north", "other"])),
                           max_size=3)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=PAYLOADS, mangle=st.sampled_from(["none", "truncate", "not-base64", "wrong-type"]))
def test_queue_garbage_is_handled_once_and_never_lost(running_app: RunningApp, rows: TelemetryRows,
                                                      payload: dict, mangle: str) -> None:
    cid = f"fuzz-{uuid.uuid4()}"
    message = envelope.build(EventType.PLAYER_MOVE, payload, correlation_id=cid, traceparent=None, tracestate=None)
    text = message.to_json()
    if mangle == "truncate":
        text = text[: len(text) // 2]
    if mangle == "wrong-type":
        text = text.replace('"player.move"', '"location.look"')
    storage = running_app.settings["AzureWebJobsStorage"]
    poison = QueueClient.from_connection_string(storage, "player-move-poison")
    try:
        poison.clear_messages()  # each example reads back only its own evidence
    except ResourceNotFoundError:
        poison.create_queue()
    raw_client = QueueClient.from_connection_string(storage, "player-move")
    if mangle == "not-base64":
        raw_client.send_message(text)
    else:
        raw_client.send_message(base64.b64encode(text.encode()).decode())
    running_app.wait_idle(timeout=60)
    expects_row = mangle in ("none", "wrong-type")
    handled = rows.wait("requests", lambda r: dim(r, "game.correlation_id") == cid,
                        timeout=15 if expects_row else 1.5)
    poisoned = [m for m in poison.peek_messages(max_messages=32) if message.event_id in _decoded(m.content)]
    if mangle == "not-base64":  # the host itself cannot decode it: it is retried, then poisoned, never run
        assert handled == [] and len(poisoned) == 1
    elif mangle == "truncate":  # unreadable: dead-lettered once, under a fresh correlation id
        assert len(poisoned) == 1
    else:  # readable: handled exactly once, dead-lettered at most once
        assert len(handled) == 1, handled
        assert dim(handled[0], "game.outcome") in {"succeeded", "dead_lettered"}
        assert len(poisoned) == (1 if dim(handled[0], "game.outcome") == "dead_lettered" else 0)


def _decoded(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except ValueError:
        return text
