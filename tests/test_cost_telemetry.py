"""The AI cost telemetry as Application Insights receives it: through the real exporter into the local ingestion
endpoint, from the cost blueprint's functions running on the real Cosmos server and Azurite queue.

Why: the reference's cost events were never emitted and its dashboards queried names nothing sent. Here the rows an
operator's query reads are checked: each cost event's name, dimensions and ``itemCount`` (guardrails never sampled),
the token-usage metric, and — the privacy rule — that the prompt text appears in no row of any table. Runs in a
fresh process with strict telemetry: OpenTelemetry's providers are process-global.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from local.ingest import read_table, wait_for_rows
from local.stack import StackEndpoints
from tests.conftest import ROOT

CANARY = f"swordfish-{uuid.uuid4().hex}"

SCRIPT = textwrap.dedent("""
    import base64, json, sys, time
    import azure.functions as func
    from azure.functions.queue import QueueMessage
    from azure.functions.timer import TimerRequest
    from azure.storage.queue import QueueClient
    from cost.functions import bp
    from shared import runtime
    from shared.envelope import EventType
    from shared.operations import ALWAYS_KEPT
    from shared.settings import AppSettings
    from shared.telemetry import flush
    from shared.telemetry.setup import configure

    feature, canary = sys.argv[1], sys.argv[2]
    settings = AppSettings.from_environ()
    configure(settings, always_kept=ALWAYS_KEPT)
    runtime.install(lambda: runtime.build_services(settings))
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(bp)
    fns = {f.get_function_name(): f.get_user_function() for f in app.get_functions()}

    def post(name, route, body):
        req = func.HttpRequest("POST", "/api/" + route, headers={"content-type": "application/json"},
                               body=json.dumps(body).encode())
        reply = fns[name](req, None)
        return reply.status_code, json.loads(reply.get_body())

    messages = [{"role": "system", "content": "You are the innkeeper."},
                {"role": "user", "content": canary, "name": "traveller"}]
    def estimate(model, max_output):
        return post("ai_estimate", "ai/estimate", {"feature": feature, "model": model, "messages": messages,
                                                   "max_output_tokens": max_output})

    status, first = estimate("gpt-4o", 400)
    assert status == 200 and first["decision"] == "allow", first
    status, warned = estimate("gpt-4o", 40000)
    assert status == 200 and warned["decision"] == "warn", warned
    status, refused = estimate("unreleased-model-x", 200000)
    assert status == 429, refused
    status, invalid = post("ai_estimate", "ai/estimate", {"feature": feature, "model": "gpt-4o",
                           "messages": [{"role": canary, "content": canary}], "max_output_tokens": 1})
    assert status == 400, invalid
    status, accepted = post("ai_complete", "ai/completions", {
        "generation_id": first["generation_id"], "feature": feature, "model": "gpt-4o",
        "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "cached_tokens": 1920},
        "estimated_input_tokens": first["input_tokens"]})
    assert status == 202, accepted

    queue = QueueClient.from_connection_string(settings.storage_connection, EventType.AI_GENERATION_COMPLETED.queue)
    body = None
    for _ in range(50):
        for message in queue.receive_messages(max_messages=32, visibility_timeout=1):
            text = base64.b64decode(message.content).decode()
            if json.loads(text)["event_id"] == first["generation_id"]:
                queue.delete_message(message)
                body = text
        if body:
            break
        time.sleep(0.2)
    for count in (1, 2):
        fns["on_ai_generation_completed"](QueueMessage(id="m", body=body.encode(), dequeue_count=count), None)
    fns["cost_rollup"](TimerRequest(), None)
    report = fns["ai_costs"](func.HttpRequest("GET", "/api/ai/costs", params={"hours": "1"}, body=b""), None)
    assert report.status_code == 200
    assert flush()
""")


@dataclass(frozen=True)
class Exported:
    stack: StackEndpoints
    role: str
    feature: str
    stderr: str

    def rows(self, table: str) -> list[dict[str, Any]]:
        return [r for r in read_table(self.stack.telemetry_dir, table) if r.get("cloud_RoleName") == self.role]


@pytest.fixture(scope="module")
def exported(stack: StackEndpoints) -> Exported:
    role = f"cost-{uuid.uuid4().hex[:8]}"
    feature = f"tavern-{uuid.uuid4().hex[:6]}"
    env = {**stack.app_settings(), "WEBSITE_SITE_NAME": role, "COSMOS_DATABASE": role, "TELEMETRY_STRICT": "true",
           "COST_ROLLUP_SCHEDULE": "0 */5 * * * *", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, feature, CANARY], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    wait_for_rows(stack.telemetry_dir, "customEvents",
                  lambda r: r.get("cloud_RoleName") == role and r["name"] == "Ai.Cost.Recorded")
    wait_for_rows(stack.telemetry_dir, "customMetrics",
                  lambda r: r.get("cloud_RoleName") == role and r["name"] == "gen_ai.client.token.usage")
    wait_for_rows(stack.telemetry_dir, "requests",
                  lambda r: r.get("cloud_RoleName") == role and r["name"] == "Ai.CostReport")
    return Exported(stack, role, feature, done.stderr)


def test_each_cost_event_arrives_once_with_its_dimensions(exported: Exported) -> None:
    events = [r for r in exported.rows("customEvents") if r["name"].startswith("Ai.")]
    assert Counter(r["name"] for r in events) == {
        "Ai.Cost.Estimated": 3, "Ai.Budget.ThresholdCrossed": 1, "Ai.Budget.Blocked": 1,
        "Ai.Encoding.Substituted": 1, "Ai.Price.CeilingApplied": 1, "Ai.Cost.Recorded": 1}
    assert all(r["itemCount"] == 1 for r in events)
    by_name = {r["name"]: r["customDimensions"] for r in events}
    recorded = by_name["Ai.Cost.Recorded"]
    assert recorded["game.ai.feature"] == exported.feature and recorded["gen_ai.request.model"] == "gpt-4o"
    assert int(recorded["game.ai.cost_nusd"]) == 5_615_000 and int(recorded["gen_ai.usage.input_tokens"]) == 2006
    assert int(recorded["gen_ai.usage.cache_read.input_tokens"]) == 1920
    assert int(recorded["gen_ai.usage.output_tokens"]) == 300 and "game.ai.estimate_error_tokens" in recorded
    assert recorded["game.operation"] == "Queue.AiGenerationCompleted" and recorded["game.correlation_id"]
    blocked = by_name["Ai.Budget.Blocked"]
    assert blocked["game.ai.feature"] == exported.feature and int(blocked["game.ai.budget.cap_nusd"]) == 500_000_000
    assert by_name["Ai.Encoding.Substituted"]["game.ai.token_method"] == "fallback"
    assert by_name["Ai.Price.CeilingApplied"]["gen_ai.request.model"] == "unreleased-model-x"
    decisions = sorted(r["customDimensions"]["game.ai.budget.decision"] for r in events
                       if r["name"] == "Ai.Cost.Estimated")
    assert decisions == ["allow", "block", "warn"]


def test_token_usage_and_cost_metrics_are_exported(exported: Exported) -> None:
    metrics = exported.rows("customMetrics")
    usage = [r for r in metrics if r["name"] == "gen_ai.client.token.usage"]
    types = {r["customDimensions"]["gen_ai.token.type"]: r for r in usage}
    assert types["input"]["valueSum"] == 2006 and types["output"]["valueSum"] == 300
    cost = [r for r in metrics if r["name"] == "game.ai.cost"]
    assert sum(r["valueSum"] for r in cost) == 5_615_000


def test_the_prompt_text_appears_in_no_telemetry_row_and_no_log(exported: Exported) -> None:
    assert CANARY not in exported.stderr
    for path in exported.stack.telemetry_dir.glob("*.jsonl"):
        assert CANARY not in path.read_text(encoding="utf-8"), f"prompt text leaked into {path.name}"
    names = {r["name"] for r in exported.rows("requests")}
    assert {"Ai.Estimate", "Ai.Complete", "Queue.AiGenerationCompleted", "Timer.CostRollup", "Ai.CostReport"} <= names
