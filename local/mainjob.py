"""The main job: the whole app on one machine, on the real world, end to end, with a report.

    bash scripts/main.sh [--seed 7] [--players 6] [--events 240] [--sampling 100]

Starts the local stack and the local Functions host, seeds Cosmos with the real world, records the integrity
baseline, replays a game session through the app's own endpoints and queues (with a deliberate out-of-band edit of
one location and a deliberately misconfigured producer), lets the timers run, and prints what an operator wants to
know. Exit status 0 only when every check of the report holds. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from game.containers import LOCATIONS, PLAYERS
from game.world import WorldFileError, load_world
from local.app import WORLD_FILE, RunningApp, seed_world
from local.progress import Progress, say_above
from local.prompts import load_templates
from local.report import Report, consistency, counts_agree, event_counts, operations_table, tolerance_note
from local.session import GameSession
from local.stack import ROOT, LocalStack, StackError
from local.telemetry_rows import TelemetryRows
from shared import envelope, poison
from shared.cosmos import CosmosGateway
from shared.envelope import EventType

DATA = ROOT.parent / "shared" / "data"
EDITED = "9c4b1f2e-5d6a-4e3b-8a7c-1d2f3e4a5b6c"
"""The location edited out of band (behind the app's back): integrity must report exactly this one."""
UPDATED = "5a6b2d1c-4e8f-4ad3-9c1b-7d9e3f2b6c41"
"""The location an operator edits through the app: integrity must not report it."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="main job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7, help="random seed: the same seed replays the same session")
    parser.add_argument("--players", type=int, default=6, help="players in the session (default 6)")
    parser.add_argument("--events", type=int, default=240, help="player actions to replay (default 240)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop replaying after this many seconds even if --events are not all sent")
    parser.add_argument("--sampling", type=float, default=100.0, help="TELEMETRY_SAMPLING_PERCENTAGE (default 100)")
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="where logs, telemetry and the report go")
    args = parser.parse_args(argv)
    if args.players < 1:
        parser.error("--players must be >= 1")
    if args.events < 1:
        parser.error("--events must be >= 1")
    if not 0 < args.sampling <= 100:  # NaN fails this too
        parser.error("--sampling must be a percentage in (0, 100]")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be > 0 seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        world = load_world(WORLD_FILE)
    except WorldFileError as error:
        print(f"main job: {error}", file=sys.stderr)
        return 2
    stack = LocalStack(args.var)
    try:
        return run(args, stack, world)
    except StackError as error:
        print(f"main job: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmain job: interrupted; stopping everything it started", file=sys.stderr)
        return 130
    finally:
        stack.stop()


def run(args: argparse.Namespace, stack: LocalStack, world: list[dict[str, Any]]) -> int:
    began = time.monotonic()
    say(f"starting the local stack in {args.var} ...")
    endpoints = stack.start()
    stack.write_stack_json()
    gateway = CosmosGateway(endpoints.cosmos_endpoint, endpoints.cosmos_key, "game")
    say(f"seeding {len(world)} locations from the real world file ...")
    progress = Progress("seeding Cosmos", len(world))
    version = seed_world(stack, world, progress=lambda n: progress.advance())
    progress.close()
    say(f"integrity baseline v{version} recorded over {len(world)} locations")
    app = RunningApp.start(stack, {"TELEMETRY_SAMPLING_PERCENTAGE": f"{args.sampling:g}",
                                   "AI_BUDGETS_FILE": str(ROOT / "local" / "demo_budgets.json")})
    say(f"local Functions host on {app.base_url} ({len(app.get('/admin/host/status').body['functions'])} functions)")
    templates = load_templates(DATA / "prompts")
    session = GameSession(app, {loc["id"]: loc for loc in world}, templates, args.seed)
    session.create_players(args.players)
    edit_time: list[datetime] = []
    session.play(args.events, on_half=lambda: edit_time.append(_tamper(app, gateway, session)),
                 deadline=None if args.duration is None else time.monotonic() + args.duration)
    if not edit_time:  # --duration ended the replay before halfway: the edits still have to happen
        edit_time.append(_tamper(app, gateway, session))
    results = _let_timers_run(app, edit_time[0] if edit_time else datetime.now(UTC), session)
    final_positions = _positions(gateway, session)
    app.stop()  # graceful: the host flushes its telemetry into the ingestion endpoint
    time.sleep(1.5)
    report = build(args, endpoints.telemetry_dir, session, results, final_positions, time.monotonic() - began)
    text = report.render()
    print(text)
    (args.var / "report.txt").write_text(text, encoding="utf-8")
    (args.var / "report.json").write_text(json.dumps(report.data, indent=2, default=str), encoding="utf-8")
    return 0 if report.ok else 1


def say(message: str) -> None:
    say_above(f"main job: {message}")


def _tamper(app: RunningApp, gateway: CosmosGateway, session: GameSession) -> datetime:
    """Halfway: one operator edit through the app, one out-of-band edit, one misconfigured producer."""
    reply = session.call("World.Update", "PUT", f"/api/locations/{UPDATED}",
                         {"description": "Market Row, its canvas freshly patched after the autumn gales."})
    say(f"operator edit through the app: HTTP {reply.status}")
    locations = gateway.container(LOCATIONS)
    document = locations.read(EDITED, partition_key=EDITED)
    assert document is not None
    document["description"] += " Someone has scratched a smuggler's mark into the door frame."
    locations.upsert({k: v for k, v in document.items() if not k.startswith("_")}, partition_key=EDITED)
    say("out-of-band edit of one location, straight into Cosmos (integrity must report it)")
    stray = envelope.build(EventType.PLAYER_MOVE, {"player_id": sorted(session.positions)[0], "direction": "north"},
                           correlation_id="misconfigured-producer-0001", traceparent=None, tracestate=None)
    from azure.storage.queue import QueueClient

    QueueClient.from_connection_string(app.settings["AzureWebJobsStorage"], EventType.PLAYER_MOVE.queue) \
        .send_message(stray.to_json())  # plain JSON: the trigger expects base64 (field case 11)
    say("a misconfigured producer sent one plain-JSON message (it must end in the poison queue, with a clue)")
    app.wait_idle(timeout=120)
    return datetime.now(UTC)


def _let_timers_run(app: RunningApp, edited_at: datetime, session: GameSession) -> dict[str, Any]:
    """Wait for an integrity run scheduled after the edit and a cost rollup covering every completion."""
    progress = Progress("waiting for the timers", 3)
    integrity = _poll(lambda: _integrity_after(app, edited_at), timeout=45)
    progress.advance(note="integrity check ran")
    costs = _poll(lambda: _costs_cover(app, session.tally.ai_completions), timeout=45)
    progress.advance(note="cost rollup ran")
    app.run_function("poison_scan")
    app.wait_idle(timeout=30)
    progress.advance(note="poison scan ran")
    progress.close()
    return {"integrity": integrity or app.get("/api/integrity/report").body,
            "costs": costs or app.get("/api/ai/costs?hours=24").body}


def _poll(probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1.0)
    return None


def _integrity_after(app: RunningApp, edited_at: datetime) -> dict[str, Any] | None:
    body = app.get("/api/integrity/report").body
    run = body.get("run") or {}
    scheduled = run.get("scheduled_for")
    return body if scheduled and envelope.parse_time(scheduled) > edited_at else None


def _costs_cover(app: RunningApp, completions: int) -> dict[str, Any] | None:
    body = app.get("/api/ai/costs?hours=24").body
    calls = sum(int(row.get("calls", 0)) for row in body.get("rollups", []))
    return body if calls >= completions else None


def _positions(gateway: CosmosGateway, session: GameSession) -> dict[str, str]:
    players = gateway.container(PLAYERS)
    return {pid: (players.read(pid, partition_key=pid) or {}).get("location_id", "?") for pid in session.positions}


def build(args: argparse.Namespace, telemetry_dir: Path, session: GameSession, results: dict[str, Any],
          positions: dict[str, str], seconds: float) -> Report:
    rows = TelemetryRows(telemetry_dir)
    report = Report()
    tally = session.tally
    report.add("Session", [
        f"  seed {args.seed}, {len(session.positions)} players, {session.actions} actions, {sum(tally.sent.values())} "
        f"HTTP requests, sampling {args.sampling:g} %, {seconds:.0f} s in all",
        "  HTTP statuses: " + ", ".join(f"{op} {st}: {n}" for (op, st), n in sorted(tally.statuses.items())),
    ])
    lines, stats = operations_table(rows)
    report.add("Operations (requests rows; count = sum(itemCount); RU/op = Cosmos RU per invocation)", lines)
    report.data["operations"] = stats
    _navigation(report, rows, tally, args.sampling)
    _queues(report, rows, session)
    _ai(report, rows, results["costs"], tally)
    _integrity(report, results["integrity"])
    _checks(report, rows, session, positions, args.sampling)
    report.add("Where things are", [
        f"  telemetry rows: {telemetry_dir}/<table>.jsonl (requests, dependencies, customEvents, customMetrics, "
        "traces, exceptions)",
        f"  logs: {args.var / 'logs'}/*.log   report: {args.var / 'report.txt'}, {args.var / 'report.json'}",
    ])
    return report


def _navigation(report: Report, rows: TelemetryRows, tally: Any, sampling: float) -> None:
    moves = event_counts(rows, "Navigation.Move.", key="game.move.reason")
    report.add("Navigation", [f"  {name}: {count}" for name, count in sorted(moves.items())])
    succeeded = sum(n for k, n in moves.items() if k.startswith("Navigation.Move.Succeeded"))
    expected = tally.moves_expected["succeeded"]
    report.check("moves along real exits all succeeded", counts_agree(expected, succeeded, sampling),
                 f"job expected {expected}, events say {succeeded}" + tolerance_note(expected, sampling))


def _queues(report: Report, rows: TelemetryRows, session: GameSession) -> None:
    found = poison.inspect_all(session.app.settings["AzureWebJobsStorage"])
    lines = [f"  {q.queue}: {q.length} message(s)" + "".join(
        f"\n    - {m.encoding.value}, correlation id {m.correlation_id}, type {m.event_type}" for m in q.sample)
        for q in found if q.length]
    dead = event_counts(rows, "Queue.Message.DeadLettered", key="game.queue.dead_letter_reason")
    lines += [f"  {name}: {count}" for name, count in sorted(dead.items())] or ["  no message dead-lettered"]
    report.add("Queues: poison and dead letters", lines or ["  every poison queue is empty"])
    stray = [m for q in found for m in q.sample if m.correlation_id == "misconfigured-producer-0001"]
    others = sum(q.length for q in found) - len(stray)
    report.check("the misconfigured producer's message is in poison, with its correlation id",
                 len(stray) == 1 and stray[0].encoding.value == "plain-json", f"{len(stray)} found")
    report.check("no other message was poisoned", others == 0, f"{others} other poison message(s)")


def _ai(report: Report, rows: TelemetryRows, costs: dict[str, Any], tally: Any) -> None:
    lines = [f"  estimates {tally.ai_estimates}, refused by budget {tally.ai_blocked}, completions "
             f"{tally.ai_completions}", f"  {'hour (UTC)':<22}{'model':<20}{'calls':>6}{'tokens in':>11}"
             f"{'tokens out':>11}{'cost USD':>12}"]
    per_hour_model: dict[tuple[str, str, bool], Counter[str]] = defaultdict(Counter)
    for row in costs.get("rollups", []):
        key = (row["hour"], row["model"], bool(row.get("provisional")))
        per_hour_model[key].update({k: int(row.get(k, 0)) for k in ("calls", "input_tokens", "output_tokens",
                                                                   "cost_nusd")})
    for (hour, model, provisional), sums in sorted(per_hour_model.items()):
        lines.append(f"  {hour:<22}{model:<20}{sums['calls']:>6}{sums['input_tokens']:>11}{sums['output_tokens']:>11}"
                     f"{sums['cost_nusd'] / 1e9:>12.6f}" + ("  (provisional: hour still open)" if provisional else ""))
    total_calls = sum(s["calls"] for s in per_hour_model.values())
    lines += [f"  budget {b['feature']} {b['hour']}: {b['state']}, spent {b['spent_usd']} of {b['cap_usd']} USD"
              for b in costs.get("budgets", []) if b.get("admitted") or b.get("state") != "ok"]
    guardrails = event_counts(rows, "Ai.", key=None)
    lines += [f"  event {name}: {count}" for name, count in sorted(guardrails.items())]
    report.add("AI cost per model and hour (rollups) and AI events", lines)
    report.data["ai"] = costs
    report.check("AI rollups account for every completion", total_calls == tally.ai_completions,
                 f"rollups {total_calls}, completions {tally.ai_completions}")
    blocked = guardrails.get("Ai.Budget.Blocked", 0)
    report.check("every budget refusal the job saw is an Ai.Budget.Blocked event", blocked == tally.ai_blocked,
                 f"{tally.ai_blocked} refusals, {blocked} events")


def _integrity(report: Report, integrity: dict[str, Any]) -> None:
    run = integrity.get("run") or {}
    findings = integrity.get("findings") or []
    lines = [f"  latest run {run.get('scheduled_for')}: {run.get('counts')} (baseline v{run.get('baseline_version')}"
             + (": the seeded v1 plus the operator's edits through the app)" if run.get("baseline_version") != 1
                else ")")]
    lines += [f"  - {f['verdict']} {f['location_id']} expected {str(f.get('expected_hash'))[:12]}… actual "
              f"{str(f.get('actual_hash'))[:12]}…" for f in findings]
    report.add("Integrity drift", lines)
    report.data["integrity"] = integrity
    flagged = sorted((f["location_id"], str(f["verdict"]).upper()) for f in findings)
    report.check("integrity reports exactly the out-of-band edit", flagged == [(EDITED, "MISMATCH")],
                 f"findings {flagged}")


def _checks(report: Report, rows: TelemetryRows, session: GameSession, positions: dict[str, str],
            sampling: float) -> None:
    consistency(report, rows, session.tally, sampling)
    rejected = sum(n for (_, status), n in session.tally.statuses.items() if 400 <= status < 500
                   and status != 429)
    report.check("only the deliberately malformed requests were refused", rejected == session.tally.expected_rejections,
                 f"{rejected} refused, {session.tally.expected_rejections} malformed sent")
    report.check("no HTTP 5xx", session.tally.unexpected_server_errors() == 0,
                 f"{session.tally.unexpected_server_errors()} server errors")
    exceptions = rows.table("exceptions")
    report.check("no exceptions rows", not exceptions, f"{len(exceptions)} exceptions")
    wrong = {p: loc for p, loc in positions.items() if loc != session.positions[p]}
    report.check("every player stands where the job's model says", not wrong, f"{len(wrong)} misplaced")


if __name__ == "__main__":
    sys.exit(main())
