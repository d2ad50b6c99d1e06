"""Queue semantics end to end: poison with a clue and an alert (field case 11), dead-letter once, idempotent
redelivery."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient, TextBase64EncodePolicy

from local import kql
from local.app import RunningApp
from local.telemetry_rows import TelemetryRows, dim
from shared import envelope
from shared.envelope import EventType

POISON_ALERT = Path(__file__).resolve().parents[1] / "infra" / "alerts" / "poison-queue.kql"
POISON_RUNBOOK = Path(__file__).resolve().parents[1] / "docs" / "runbooks" / "poison-queue.md"
JETTY = "a4d1c3f1-5b2a-4f7d-9d4b-8f0c2a6b7e21"


def _queue(app: RunningApp, name: str, base64_encoded: bool = True) -> QueueClient:
    policy = TextBase64EncodePolicy() if base64_encoded else None
    return QueueClient.from_connection_string(app.settings["AzureWebJobsStorage"], name,
                                              message_encode_policy=policy)


def _poison_texts(app: RunningApp, queue: str) -> list[str]:
    client = _queue(app, f"{queue}-poison", base64_encoded=False)
    try:
        return [m.content for m in client.peek_messages(max_messages=32)]
    except Exception:  # noqa: BLE001 - the poison queue may not exist yet
        return []


def _decoded(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except ValueError:
        return text


def _player(app: RunningApp) -> str:
    player = app.post("/api/players", {"start_location_id": JETTY}).body["player_id"]
    app.wait_idle()
    return player


def _move_envelope(player: str, direction: str, cid: str) -> envelope.Envelope:
    return envelope.build(EventType.PLAYER_MOVE, {"player_id": player, "direction": direction},
                          correlation_id=cid, traceparent=None, tracestate=None)


def test_plain_json_producer_ends_in_poison_with_its_correlation_id(running_app: RunningApp,
                                                                     rows: TelemetryRows) -> None:
    cid = f"plain-{uuid.uuid4()}"
    message = _move_envelope(str(uuid.uuid4()), "north", cid)
    _queue(running_app, "player-move", base64_encoded=False).send_message(message.to_json())
    running_app.wait_idle(timeout=60)
    poisoned = [t for t in _poison_texts(running_app, "player-move") if cid in t]
    assert poisoned == [message.to_json()]  # the evidence, byte for byte
    window_start = datetime.now(UTC)  # the alert rule's window: this scan and any later one
    assert running_app.run_function("poison_scan") == 202
    inspected = rows.wait("customEvents", lambda r: r["name"] == "Queue.PoisonMessage.Inspected"
                          and dim(r, "game.correlation_id") == cid)
    assert len(inspected) >= 1
    assert dim(inspected[0], "game.queue.encoding") == "plain-json"
    assert dim(inspected[0], "game.event.type") == "player.move"
    assert dim(inspected[0], "messaging.destination.name") == "player-move-poison"
    fired = {row["queue"]: row["length"] for row in kql.run_file(rows, POISON_ALERT, since=window_start)}
    assert fired.get("player-move-poison", 0) >= 1  # the alert deployed by infra/main.bicep fires on these rows
    for queue, length in fired.items():  # and only for poison queues that really hold messages (never drained)
        held = _queue(running_app, queue).get_queue_properties().approximate_message_count
        assert held >= length > 0, queue
    triage, story = _runbook_queries()
    found = [r for r in kql.run(rows, triage) if r["correlation_id"] == cid]
    assert found, "the runbook's triage query finds the poisoned message by its correlation id"
    assert {(r["name"], r["queue"], r["encoding"]) for r in found} == {
        ("Queue.PoisonMessage.Inspected", "player-move-poison", "plain-json")}
    assert {r["name"] for r in kql.run(rows, story.replace("<correlation id>", cid))} >= {
        "Queue.PoisonMessage.Inspected"}


def _runbook_queries() -> list[str]:
    """The KQL blocks of the poison-queue runbook, which operators paste as they are."""
    text = POISON_RUNBOOK.read_text(encoding="utf-8")
    blocks = [part.split("```")[0] for part in text.split("```kusto")[1:]]
    return ["\n".join(line.strip() for line in block.strip().splitlines()) for block in blocks]


def test_invalid_envelope_is_dead_lettered_once_not_retried(running_app: RunningApp, rows: TelemetryRows) -> None:
    cid = f"broken-{uuid.uuid4()}"
    text = json.dumps({"version": 99, "correlation_id": cid, "payload": {}})
    _queue(running_app, "player-move").send_message(text)
    running_app.wait_idle(timeout=30)
    assert [_decoded(t) for t in _poison_texts(running_app, "player-move") if cid in _decoded(t)] == [text]
    dead = rows.wait("customEvents", lambda r: r["name"] == "Queue.Message.DeadLettered"
                     and dim(r, "game.correlation_id") == cid)
    assert len(dead) == 1
    assert dim(dead[0], "game.queue.dead_letter_reason") == "invalid_message:version"
    assert dim(dead[0], "game.queue.dequeue_count") == "1"
    attempts = rows.wait("requests", lambda r: dim(r, "game.correlation_id") == cid)
    assert len(attempts) == 1 and dim(attempts[0], "game.outcome") == "dead_lettered"


def test_json_that_breaks_the_parser_is_dead_lettered_and_the_poison_scan_survives_it(
        running_app: RunningApp, rows: TelemetryRows) -> None:
    """Nesting deep enough for a RecursionError, an integer past Python's digit limit: once read as 'not JSON'
    and dead-lettered with the reason; the poison scan that peeks them afterwards still completes."""
    marker = uuid.uuid4().hex
    texts = ["[" * 5000 + json.dumps(marker) + "]" * 5000, f'{{"m": "{marker}", "n": {"7" * 5000}}}']

    def dead_bodies() -> list[dict]:
        return rows.table("customEvents", lambda r: r["name"] == "Queue.Message.DeadLettered"
                          and dim(r, "game.queue.dead_letter_reason") == "invalid_message:body")

    before = len(dead_bodies())
    for text in texts:
        _queue(running_app, "player-move").send_message(text)
    running_app.wait_idle(timeout=30)
    assert sorted(_decoded(t) for t in _poison_texts(running_app, "player-move") if marker in _decoded(t)) == \
        sorted(texts)
    rows.wait("customEvents", lambda r: r["name"] == "Queue.Message.DeadLettered"
              and dim(r, "game.queue.dead_letter_reason") == "invalid_message:body", count=before + 2)
    assert len(dead_bodies()) == before + 2
    scanned_after = datetime.now(UTC).isoformat()
    assert running_app.run_function("poison_scan") == 202
    [scan] = rows.wait("requests", lambda r: r["name"] == "Timer.PoisonScan" and r["timestamp"] > scanned_after)
    assert scan["success"] is True and dim(scan, "game.outcome") == "succeeded"


def test_the_poison_copy_is_the_message_byte_for_byte_even_when_it_is_not_utf8(running_app: RunningApp) -> None:
    marker = uuid.uuid4().hex.encode()
    body = b'\xff\xfe{"version": 1, "m": "' + marker + b'"}'
    QueueClient.from_connection_string(running_app.settings["AzureWebJobsStorage"], "player-move",
                                       message_encode_policy=BinaryBase64EncodePolicy()).send_message(body)
    running_app.wait_idle(timeout=30)
    def raw(text: str) -> bytes:
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:  # the plain-JSON producer's message (another test) is in the same poison queue
            return text.encode()

    copies = [raw(t) for t in _poison_texts(running_app, "player-move") if marker in raw(t)]
    assert copies == [body]


def test_unknown_player_is_a_permanent_failure_dead_lettered_once(running_app: RunningApp,
                                                                  rows: TelemetryRows) -> None:
    cid = f"ghost-{uuid.uuid4()}"
    message = _move_envelope(str(uuid.uuid4()), "north", cid)
    _queue(running_app, "player-move").send_message(message.to_json())
    running_app.wait_idle(timeout=30)
    dead = rows.wait("customEvents", lambda r: r["name"] == "Queue.Message.DeadLettered"
                     and dim(r, "game.correlation_id") == cid)
    assert [dim(d, "game.queue.dead_letter_reason") for d in dead] == ["not_found"]
    assert dim(dead[0], "game.event.id") == message.event_id


def test_redelivered_event_changes_nothing_twice(running_app: RunningApp, rows: TelemetryRows) -> None:
    player = _player(running_app)
    cid = f"dup-{uuid.uuid4()}"
    message = _move_envelope(player, "north", cid)
    client = _queue(running_app, "player-move")
    client.send_message(message.to_json())
    running_app.wait_idle()
    client.send_message(message.to_json())  # the same event delivered again
    running_app.wait_idle()
    handled = rows.wait("requests", lambda r: dim(r, "game.correlation_id") == cid, count=2)
    assert sorted(dim(r, "game.outcome") for r in handled) == ["duplicate", "succeeded"]
    moved = rows.wait("customEvents", lambda r: r["name"] == "Navigation.Move.Succeeded"
                      and dim(r, "game.correlation_id") == cid)
    assert len(moved) == 1
