"""The AI cost functions through the real wrappers, on the real Cosmos server and Azurite queue, in process.

Why: the reference's cost library was tested but nothing called it. Here each function is driven as the host drives
it: estimate (200, or 429 with the error envelope when the budget is exhausted), completion (202 and a real queue
message), the queue handler (one record, a redelivery is a duplicate), the timer and the report. The prompt text
never comes back in a response or error body.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient

from cost.containers import BUDGETS, USAGE
from cost.functions import bp
from cost.tokens import ChatMessage, default_counter
from local.stack import StackEndpoints
from shared import envelope, runtime
from shared.cosmos import CosmosGateway
from shared.envelope import EventType
from shared.queues import QueueProducer
from shared.runtime import Services
from shared.settings import AppSettings
from shared.telemetry.testing import Captured

SECRET_PROMPT = "The innkeeper's secret password is swordfish-7731."
MESSAGES = [{"role": "system", "content": "You are the innkeeper."}, {"role": "user", "content": SECRET_PROMPT}]
Functions = dict[str, Callable[..., Any]]


@pytest.fixture(scope="module")
def functions(stack: StackEndpoints, gateway: CosmosGateway) -> Functions:
    settings = AppSettings(storage_connection=stack.storage_connection_string, cosmos_endpoint=stack.cosmos_endpoint,
                           cosmos_key=stack.cosmos_key)
    services = Services(settings, gateway, QueueProducer(stack.storage_connection_string))
    runtime.install(lambda: services)
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(bp)
    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


@pytest.fixture(scope="module")
def feature() -> str:
    return f"tavern-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def _not_at_the_end_of_an_hour() -> None:
    """Records are stamped with the hour they are written in: keep one test inside one hour."""
    now = datetime.now(UTC)
    if now.minute == 59 and now.second >= 40:
        time.sleep(61 - now.second)


def _post(functions: Functions, name: str, route: str, body: object) -> tuple[int, dict[str, Any], str]:
    request = func.HttpRequest("POST", f"/api/{route}", headers={"content-type": "application/json"},
                               body=json.dumps(body).encode("utf-8"))
    response = functions[name](request, None)
    text = response.get_body().decode("utf-8")
    return response.status_code, json.loads(text), text


def _get(functions: Functions, route: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = functions["ai_costs"](func.HttpRequest("GET", f"/api/{route}", params=params, body=b""), None)
    return response.status_code, json.loads(response.get_body())


def _take_message(stack: StackEndpoints, event_id: str) -> str:
    """Receive our own message from the real queue (and only ours), delete it, return its decoded body."""
    queue = EventType.AI_GENERATION_COMPLETED.queue
    client = QueueClient.from_connection_string(stack.storage_connection_string, queue)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for message in client.receive_messages(max_messages=32, visibility_timeout=1):
            text = base64.b64decode(message.content).decode("utf-8")
            if json.loads(text)["event_id"] == event_id:
                client.delete_message(message)
                return text
        time.sleep(0.2)
    raise AssertionError("the completion was not enqueued")


def _deliver(functions: Functions, text: str, dequeue_count: int = 1) -> None:
    functions["on_ai_generation_completed"](
        QueueMessage(id=str(uuid.uuid4()), body=text.encode("utf-8"), dequeue_count=dequeue_count), None)


def _estimate(functions: Functions, feature: str, /, **overrides: Any) -> tuple[int, dict[str, Any], str]:
    body = {"feature": feature, "model": "gpt-4o", "messages": MESSAGES, "max_output_tokens": 400, **overrides}
    return _post(functions, "ai_estimate", "ai/estimate", body)


def test_the_cost_blueprint_registers_its_five_functions(functions: Functions) -> None:
    assert sorted(functions) == ["ai_complete", "ai_costs", "ai_estimate", "cost_rollup",
                                 "on_ai_generation_completed"]


def test_estimate_counts_exactly_and_admits(functions: Functions, feature: str) -> None:
    status, body, text = _estimate(functions, feature)
    expected = default_counter().count_chat([ChatMessage(**m) for m in MESSAGES], "gpt-4o").tokens
    assert status == 200 and body["decision"] == "allow" and body["token_method"] == "exact"
    assert body["input_tokens"] == expected
    assert body["estimated_cost_nusd"] == expected * 2500 + 400 * 10_000
    assert uuid.UUID(body["generation_id"]).version == 7 and body["correlation_id"]
    assert "swordfish" not in text


def test_an_exhausted_budget_answers_429_and_reserves_nothing(functions: Functions, gateway: CosmosGateway) -> None:
    feature = f"greedy-{uuid.uuid4().hex[:6]}"  # default cap 0.50 USD; the ceiling price makes this 12 USD
    status, body, text = _estimate(functions, feature, model="unreleased-model", max_output_tokens=200_000)
    assert status == 429 and body["error"]["code"] == "budget_exceeded" and body["error"]["field"] == "feature"
    assert "swordfish" not in text and body["correlation_id"] == body["error"]["correlation_id"]
    docs = gateway.container(BUDGETS).query("SELECT * FROM c WHERE c.feature = @f", {"@f": feature})
    assert [(d["reserved_nusd"], d["pending"]) for d in docs] == [(0, {})]


@pytest.mark.parametrize(("change", "field"), [
    ({"messages": [{"role": "wizard", "content": SECRET_PROMPT}]}, "messages.0.role"),
    ({"messages": [{"role": "user", "content": SECRET_PROMPT, "secret": SECRET_PROMPT}]}, "messages.0.secret"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "user", "content": "x" * 30_001}]}, "messages.0.content"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
    ({"model": "gpt 4o; drop"}, "model"),
    ({"feature": "Not A Feature"}, "feature"),
])
def test_invalid_estimates_name_the_field_and_never_echo_the_prompt(functions: Functions, feature: str,
                                                                    change: dict[str, Any], field: str) -> None:
    status, body, text = _estimate(functions, feature, **change)
    assert status == 400 and body["error"]["field"] == field
    assert "swordfish" not in text


def test_a_completion_is_queued_recorded_once_and_settles_the_reservation(
        functions: Functions, stack: StackEndpoints, gateway: CosmosGateway, feature: str) -> None:
    _, estimate, _ = _estimate(functions, feature)
    generation_id = estimate["generation_id"]
    completion = {"generation_id": generation_id, "feature": feature, "model": "gpt-4o",
                  "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "cached_tokens": 1920},
                  "estimated_input_tokens": estimate["input_tokens"]}
    status, body, _ = _post(functions, "ai_complete", "ai/completions", completion)
    assert status == 202 and body["generation_id"] == generation_id
    text = _take_message(stack, generation_id)
    _deliver(functions, text)
    _deliver(functions, text, dequeue_count=2)  # the host redelivers: a duplicate, nothing changes
    records = gateway.container(USAGE).query("SELECT * FROM c WHERE c.generation_id = @g", {"@g": generation_id})
    assert len(records) == 1 and records[0]["cost_nusd"] == 5_615_000 and records[0]["state"] == "settled"
    budgets = gateway.container(BUDGETS).query("SELECT * FROM c WHERE c.feature = @f", {"@f": feature})
    assert sum(d["spent_nusd"] for d in budgets) == 5_615_000
    assert all(generation_id not in d["pending"] for d in budgets)


def test_usage_older_than_the_price_table_is_dead_lettered_once_not_retried(
        functions: Functions, gateway: CosmosGateway, feature: str, emitted: Captured) -> None:
    """No price, not even the ceiling, is in force in 1990: retrying changes nothing, so the message is refused
    once with the reason, and nothing is recorded or charged."""
    generation_id = str(uuid.uuid4())
    payload = {"generation_id": generation_id, "feature": feature, "model": "gpt-4o",
               "usage": {"prompt_tokens": 10, "completion_tokens": 5}, "estimated_input_tokens": 10}
    message = envelope.build(EventType.AI_GENERATION_COMPLETED, payload, correlation_id=f"old-{generation_id}",
                             event_id=generation_id, traceparent=None, tracestate=None)
    text = message.to_json().replace(message.occurred_at, "1990-01-01T00:00:00Z")
    _deliver(functions, text)  # returns: dead-lettered, not raised for the host to retry
    dead = [d for name, d in emitted if name == "Queue.Message.DeadLettered"]
    assert [(d["game.queue.dead_letter_reason"], d["game.event.id"]) for d in dead] == \
        [("validation_failed", generation_id)]
    assert gateway.container(USAGE).read(generation_id, partition_key=generation_id) is None


def test_inconsistent_usage_is_refused_before_it_is_queued(functions: Functions, feature: str) -> None:
    completion = {"generation_id": str(uuid.uuid4()), "feature": feature, "model": "gpt-4o",
                  "usage": {"prompt_tokens": 10, "completion_tokens": 5, "cached_tokens": 11},
                  "estimated_input_tokens": 10}
    status, body, _ = _post(functions, "ai_complete", "ai/completions", completion)
    assert status == 400 and body["error"]["field"] == "usage.cached_tokens"


def test_the_timer_and_the_report_show_the_open_hours_costs_and_the_budget(
        functions: Functions, feature: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COST_ROLLUP_SCHEDULE", "0 */5 * * * *")
    functions["cost_rollup"](TimerRequest(), None)
    status, report = _get(functions, "ai/costs", {"hours": "2"})
    assert status == 200 and report["hours"] == 2
    rows = [row for row in report["rollups"] if row["feature"] == feature]
    assert [(r["model"], r["calls"], r["cost_nusd"], r["provisional"]) for r in rows] == [
        ("gpt-4o", 1, 5_615_000, True)]
    assert rows[0]["cost_usd"] == "0.005615"
    budget = [b for b in report["budgets"] if b["feature"] == feature]
    assert len(budget) == 1 and budget[0]["spent_nusd"] == 5_615_000 and budget[0]["state"] == "ok"
    configured = {b["feature"] for b in report["budgets"]}
    assert {"dm-narrator", "location-generator", "quest-generator"} <= configured


@pytest.mark.parametrize("hours", ["0", "169", "abc", "-1", "²", "1" * 5000])
def test_the_report_refuses_a_bad_hours_parameter(functions: Functions, hours: str) -> None:
    status, body = _get(functions, "ai/costs", {"hours": hours})
    assert status == 400 and body["error"]["field"] == "hours"
