"""The integrity events as Application Insights receives them: through the real exporter into the local ingestion
endpoint, from the blueprint's functions running on the real Cosmos server.

Why: the reference declared events nothing emitted and queried names the code never sent. Here the rows an operator's
query would read are checked: every integrity event name, its dimensions, ``itemCount`` 1 (never sampled), and the
timer's request row carrying the occurrence. Runs in a fresh process: OpenTelemetry's providers are process-global.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from local.ingest import read_table, wait_for_rows
from local.stack import StackEndpoints
from tests.conftest import ROOT

COSMOS_CONTAINERS = {"locations", "integrityBaselines", "integrityRuns", "integrityFindings"}
WORLD_FILE = ROOT.parent / "shared" / "data" / "world" / "villageLocations.json"

SCRIPT = textwrap.dedent("""
    import json, sys
    import azure.functions as func
    from azure.functions.timer import TimerRequest
    from game.containers import LOCATIONS
    from integrity import baseline
    from integrity.functions import bp
    from shared import runtime
    from shared.operations import ALWAYS_KEPT
    from shared.settings import AppSettings
    from shared.telemetry import flush
    from shared.telemetry.setup import configure

    settings = AppSettings.from_environ()
    configure(settings, always_kept=ALWAYS_KEPT)
    runtime.install(lambda: runtime.build_services(settings))
    cosmos = runtime.services().cosmos
    world = json.load(open(sys.argv[1], encoding="utf-8"))
    locations = cosmos.container(LOCATIONS)
    for location in world:
        locations.upsert(location, partition_key=location["id"])
    baseline.record_seed(cosmos, world)
    edited = locations.proxy.read_item(world[0]["id"], partition_key=world[0]["id"])
    edited["description"] += " (edited behind the app's back)"
    locations.proxy.upsert_item(edited)

    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(bp)
    functions = {f.get_function_name(): f.get_user_function() for f in app.get_functions()}
    functions["integrity_check"](TimerRequest(), None)
    functions["integrity_check"](TimerRequest(past_due=True), None)
    reply = functions["integrity_report"](func.HttpRequest("GET", "/api/integrity/report", body=b"", headers={}), None)
    assert reply.status_code == 200, reply.get_body()
    assert flush()
""")


@dataclass(frozen=True)
class Exported:
    stack: StackEndpoints
    role: str
    run_id: str

    def rows(self, table: str) -> list[dict[str, Any]]:
        return [r for r in read_table(self.stack.telemetry_dir, table) if r.get("cloud_RoleName") == self.role]


@pytest.fixture(scope="module")
def exported(stack: StackEndpoints) -> Exported:
    """Seed, edit one location out of band, fire the timer twice for one occurrence, read the report; all exported."""
    role = f"integrity-{uuid.uuid4().hex[:8]}"
    env = {**stack.app_settings(), "WEBSITE_SITE_NAME": role, "COSMOS_DATABASE": role, "TELEMETRY_STRICT": "true",
           "INTEGRITY_SIGNING_KEY": "telemetry-test-signing-key-0123456789", "INTEGRITY_SCHEDULE": "0 0 0 1 1 *",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(WORLD_FILE)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    wait_for_rows(stack.telemetry_dir, "customEvents",
                  lambda r: r.get("cloud_RoleName") == role and r["name"] == "Integrity.Run.Skipped")
    wait_for_rows(stack.telemetry_dir, "requests",
                  lambda r: r.get("cloud_RoleName") == role and r["name"] == "Integrity.Report")
    return Exported(stack, role, f"run:{datetime.now(UTC).year}-01-01T00:00:00Z")


def test_each_integrity_event_arrives_once_never_sampled_with_its_dimensions(exported: Exported) -> None:
    events = exported.rows("customEvents")
    names = sorted(r["name"] for r in events if r["name"].startswith("Integrity."))
    assert names == ["Integrity.Baseline.Recorded", "Integrity.Drift.Detected", "Integrity.Run.Completed",
                     "Integrity.Run.Skipped"]
    assert all(r["itemCount"] == 1 for r in events)
    by_name = {r["name"]: r["customDimensions"] for r in events}
    completed = by_name["Integrity.Run.Completed"]
    assert completed["game.integrity.run_id"] == exported.run_id and completed["game.integrity.result"] == "drift"
    assert int(completed["game.integrity.match_count"]) == 34 and int(completed["game.integrity.mismatch_count"]) == 1
    assert int(completed["game.integrity.checked_count"]) == 35
    assert int(completed["game.integrity.baseline_version"]) == 1
    assert completed["game.operation"] == "Timer.IntegrityCheck" and completed["game.correlation_id"]
    drift = by_name["Integrity.Drift.Detected"]
    assert drift["game.location.id"] == json.loads(WORLD_FILE.read_text(encoding="utf-8"))[0]["id"]
    assert drift["game.integrity.verdict"] == "mismatch" and drift["game.integrity.run_id"] == exported.run_id
    assert by_name["Integrity.Run.Skipped"]["game.integrity.run_id"] == exported.run_id
    assert by_name["Integrity.Baseline.Recorded"]["game.integrity.baseline_source"] == "seed"


def test_both_timer_firings_and_the_report_are_requests_and_the_cosmos_calls_dependencies(exported: Exported) -> None:
    requests = exported.rows("requests")
    timers = [r for r in requests if r["name"] == "Timer.IntegrityCheck"]
    assert len(timers) == 2 and all(r["success"] for r in timers)
    assert [r["name"] for r in requests if r["name"] == "Integrity.Report"] == ["Integrity.Report"]
    names = {r["name"] for r in exported.rows("dependencies")}
    assert {"locations query_items", "integrityBaselines query_items", "integrityRuns create_item",
            "integrityRuns replace_item", "integrityFindings create_item"} <= names


def test_span_start_attributes_survive_sampling(exported: Exported) -> None:
    timers = [r for r in exported.rows("requests") if r["name"] == "Timer.IntegrityCheck"]
    assert {r["customDimensions"].get("game.timer.scheduled_for") for r in timers} == {
        exported.run_id[4:-1] + "+00:00"}
    cosmos_calls = [r for r in exported.rows("dependencies") if r["name"].split(" ")[0] in COSMOS_CONTAINERS]
    assert cosmos_calls and {r["type"] for r in cosmos_calls} == {"cosmosdb"}
