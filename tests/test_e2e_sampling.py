"""Sampling decided once per trace, read back from the stored rows (field case 3 and the count-tile failure).

The app runs at 25 %. Clients send traceparents with the sampled flag off, as the Functions host hands the worker
a non-recording parent: the decision must still come from our own policy, be the same for every span of a trace
(across the queue hop too), carry itemCount = 4 on kept rows, keep every error event, and count what it dropped.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from local.app import RunningApp
from local.stack import LocalStack
from local.telemetry_rows import TelemetryRows, dim, weighted_count
from shared.telemetry.sampling import score
from tests.app_fixtures import start_app

JETTY = "a4d1c3f1-5b2a-4f7d-9d4b-8f0c2a6b7e21"
PERCENT = 25.0


@pytest.fixture(scope="module")
def sampled_app(local_stack: LocalStack) -> Iterator[RunningApp]:
    app, _ = start_app(local_stack, {"TELEMETRY_SAMPLING_PERCENTAGE": str(PERCENT)})
    try:
        yield app
    finally:
        app.stop()


def _unsampled_parent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-00"


def _kept(trace_id: str) -> bool:
    return score(int(trace_id, 16)) < PERCENT


def test_kept_traces_are_exactly_the_policy_decision_with_item_count(sampled_app: RunningApp,
                                                                    rows: TelemetryRows) -> None:
    sent = []
    for _ in range(80):
        trace_id, traceparent = _unsampled_parent()
        assert sampled_app.get(f"/api/locations/{JETTY}", headers={"traceparent": traceparent}).status == 200
        sent.append(trace_id)
    expected = {t for t in sent if _kept(t)}
    assert 5 <= len(expected) <= 40  # the ids are random; the policy, not luck, decides which
    requests = rows.wait("requests", lambda r: r["operation_Id"] in set(sent), count=len(expected))
    assert {r["operation_Id"] for r in requests} == expected
    assert all(r["itemCount"] == 4 for r in requests)
    assert weighted_count(requests) == 4 * len(expected)
    reads = rows.wait("dependencies", lambda r: r["operation_Id"] in set(sent), count=len(expected))
    assert {r["operation_Id"] for r in reads} == expected and all(r["itemCount"] == 4 for r in reads)


def test_decision_follows_the_trace_across_the_queue_hop(sampled_app: RunningApp, rows: TelemetryRows) -> None:
    player = sampled_app.post("/api/players", {"start_location_id": JETTY}).body["player_id"]
    sampled_app.wait_idle()
    sent = []
    for _ in range(40):
        trace_id, traceparent = _unsampled_parent()
        assert sampled_app.post(f"/api/players/{player}/look", {}, headers={"traceparent": traceparent}).status == 202
        sent.append(trace_id)
    sampled_app.wait_idle()
    expected = {t for t in sent if _kept(t)}
    # Wait on the successful consumer rows: kept error rows (below) may arrive first and must not end the wait.
    rows.wait("requests", lambda r: r["operation_Id"] in set(sent) and r["name"] == "Queue.LocationLook"
              and dim(r, "game.outcome") != "failed", count=len(expected))
    consumers = rows.table("requests", lambda r: r["operation_Id"] in set(sent) and r["name"] == "Queue.LocationLook")
    http = rows.table("requests", lambda r: r["operation_Id"] in set(sent) and r["name"] == "Players.Look")
    assert {r["operation_Id"] for r in http} == expected
    succeeded = {r["operation_Id"] for r in consumers if dim(r, "game.outcome") != "failed"}
    assert succeeded == expected
    # Forty looks at one player contend for its document; a handler that lost every optimistic-concurrency round
    # fails, is retried by the host, and its failed span is kept even in an unsampled trace (errors never sampled).
    kept_errors = [r for r in consumers if r["operation_Id"] not in expected]
    assert all(dim(r, "game.outcome") == "failed" and r["itemCount"] == 1 for r in kept_errors)
    viewed = rows.wait("customEvents", lambda r: r["operation_Id"] in set(sent)
                       and r["name"] == "Location.Description.Viewed", count=len(expected))
    assert {r["operation_Id"] for r in viewed} == expected and all(r["itemCount"] == 4 for r in viewed)


def test_a_callers_tracestate_cannot_choose_the_decision_or_the_weight(sampled_app: RunningApp,
                                                                      rows: TelemetryRows) -> None:
    """A forged decision of ours in the caller's tracestate would let one request count as 100,000 in every
    ``sum(itemCount)`` tile (p:0.001) or leave no rows at all (s:0): the policy decides, as without it."""
    sent = []
    for forged in ("gobs=s:1;p:0.001", "congo=t61rcWkgMzE,gobs=s:0;p:100") * 20:
        trace_id, traceparent = _unsampled_parent()
        reply = sampled_app.get(f"/api/locations/{JETTY}", headers={"traceparent": traceparent, "tracestate": forged})
        assert reply.status == 200
        sent.append(trace_id)
    expected = {t for t in sent if _kept(t)}
    requests = rows.wait("requests", lambda r: r["operation_Id"] in set(sent), count=len(expected))
    assert {r["operation_Id"] for r in requests} == expected
    assert {r["itemCount"] for r in requests} == {4}


def test_error_events_are_never_sampled_and_drops_are_counted(sampled_app: RunningApp, local_stack: LocalStack,
                                                              rows: TelemetryRows) -> None:
    sent = []
    for _ in range(30):
        trace_id, traceparent = _unsampled_parent()
        reply = sampled_app.request("POST", "/api/players", raw=b"{oops", headers={"traceparent": traceparent})
        assert reply.status == 400
        sent.append(trace_id)
    rejected = rows.wait("customEvents", lambda r: r["operation_Id"] in set(sent)
                         and r["name"] == "Http.Request.Rejected", count=30)
    assert len(rejected) == 30 and all(r["itemCount"] == 1 for r in rejected)
    assert {dim(r, "game.error.code") for r in rejected} == {"invalid_json"}
    role = sampled_app.settings["WEBSITE_SITE_NAME"]
    sampled_app.stop()  # the meter provider exports its counters at shutdown
    dropped = rows.wait("customMetrics", lambda r: r["name"] == "game.telemetry.dropped"
                        and r.get("cloud_RoleName") == role and dim(r, "telemetry.kind") == "requests")
    unkept = sum(1 for t in sent if not _kept(t))
    assert sum(float(r["value"]) for r in dropped) >= unkept
