"""The integrity job against the real local Cosmos server, on the real 35-location world.

Why: the reference's integrity job hashed an in-memory stand-in and overwrote the stored hash on a mismatch, so it
never found anything and erased what it would have found. These tests seed the real world into Cosmos, change it
behind the app's back with the SDK directly, and check that each change is found once, with evidence, while the
baseline stays exactly as it was; and that a timer occurrence that fires twice (field case 10) is done once.
Every test gets a database of its own.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
import rfc8785
from azure.functions.timer import TimerRequest

from game.containers import LOCATIONS
from integrity import baseline as baselines
from integrity import findings as findings_module
from integrity.baseline import BaselineProblem, BaselineRejected, BaselineSource
from integrity.canonical import location_hash
from integrity.check import run_check
from integrity.containers import BASELINES, FINDINGS, RUNS
from integrity.functions import bp
from integrity.report import latest_report
from integrity.runs import RunResult
from local.stack import StackEndpoints
from shared import runtime
from shared.cosmos import CosmosGateway, InstrumentedContainer
from shared.errors import AppError, ErrorCode
from shared.queues import QueueProducer
from shared.settings import INTEGRITY_SCHEDULE, INTEGRITY_SIGNING_KEY, AppSettings
from shared.telemetry import pipeline

WORLD_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "world" / "villageLocations.json"
WORLD: list[dict[str, Any]] = json.loads(WORLD_FILE.read_text(encoding="utf-8"))
KEY = "cosmos-test-signing-key-0123456789"
AT = datetime(2026, 12, 3, 19, 5, tzinfo=UTC)


def independent_hash(location: dict[str, Any]) -> str:
    content = {k: v for k, v in location.items() if not k.startswith("_")}
    content["exits"] = sorted(content["exits"], key=lambda e: e["direction"])
    return hashlib.sha256(rfc8785.dumps(content)).hexdigest()


@dataclass
class Recorded:
    """Every event that went through the real pipeline (validated, strict), as (name, dimensions)."""

    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def named(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dims for event, dims in self.rows if event == name]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    recorded = Recorded()
    original = pipeline.run
    previous = pipeline.config()
    pipeline.set_config(pipeline.PipelineConfig(strict=True))  # an undeclared dimension raises here

    def run(event: dict[str, Any], *args: Any) -> dict[str, Any] | None:
        result = original(event, *args)
        if result is not None:
            with recorded.lock:
                recorded.rows.append((result["spec"].name, dict(result["attributes"])))
        return result

    monkeypatch.setattr(pipeline, "run", run)
    yield recorded
    pipeline.set_config(previous)


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INTEGRITY_SIGNING_KEY, KEY)


@pytest.fixture
def cosmos(stack: StackEndpoints) -> CosmosGateway:
    """A fresh database: nothing from another test is visible."""
    return CosmosGateway(stack.cosmos_endpoint, stack.cosmos_key, f"integrity-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def world(cosmos: CosmosGateway, events: Recorded) -> CosmosGateway:
    """The 35 real locations seeded into Cosmos, and the seed baseline recorded through the seeding hook."""
    container = cosmos.container(LOCATIONS)
    for location in WORLD:
        container.upsert(copy.deepcopy(location), partition_key=location["id"])
    baselines.record_seed(cosmos, WORLD)
    return cosmos


def locations(cosmos: CosmosGateway) -> InstrumentedContainer:
    return cosmos.container(LOCATIONS)


def all_docs(cosmos: CosmosGateway, spec: Any) -> list[dict[str, Any]]:
    return cosmos.container(spec).query("SELECT * FROM c")


def edit_out_of_band(cosmos: CosmosGateway, location_id: str, **changes: Any) -> dict[str, Any]:
    """Change a location with the SDK directly, as someone with the account key would (not through the app)."""
    proxy = locations(cosmos).proxy
    document = proxy.read_item(location_id, partition_key=location_id)
    document.update(changes)
    return proxy.upsert_item(document)


# --- hashes of what Cosmos hands back ---------------------------------------------------------------------------

def test_case_12_a_location_read_back_from_cosmos_hashes_like_the_file(world: CosmosGateway) -> None:
    for location in WORLD:
        stored = locations(world).read(location["id"], location["id"])
        assert stored is not None and {"_rid", "_self", "_etag", "_ts"} <= set(stored)  # the local server adds
        assert location_hash(stored) == location_hash(location) == independent_hash(location)
        assert location_hash({**stored, "_attachments": "attachments/"}) == independent_hash(location)  # Azure's 5th


def test_the_seed_baseline_holds_every_location_hash_signed(world: CosmosGateway, events: Recorded) -> None:
    latest = baselines.latest_baseline(world)
    assert latest is not None and latest.version == 1 and latest.source is BaselineSource.SEED
    assert latest.hashes == {location["id"]: independent_hash(location) for location in WORLD}
    assert events.named("Integrity.Baseline.Recorded") == [{
        "game.integrity.baseline_version": 1, "game.integrity.baseline_source": "seed", "game.item.count": 35,
        "_MS.sampleRate": 100.0}]


# --- runs ---------------------------------------------------------------------------------------------------------

def test_first_run_after_seeding_is_35_matches_and_no_findings(world: CosmosGateway, events: Recorded) -> None:
    summary = run_check(world, AT)
    assert summary is not None and summary.result is RunResult.CLEAN
    assert summary.counts == {"match": 35, "mismatch": 0, "new": 0, "missing": 0}
    assert summary.checked_count == 35 and summary.baseline_version == 1
    assert all_docs(world, FINDINGS) == []
    [run] = all_docs(world, RUNS)
    assert run["id"] == "run:2026-12-03T19:05:00Z" and run["status"] == "completed" and run["result"] == "clean"
    [completed] = events.named("Integrity.Run.Completed")
    assert completed["game.integrity.match_count"] == 35 and completed["game.integrity.mismatch_count"] == 0
    assert completed["game.integrity.run_id"] == run["id"] and completed["_MS.sampleRate"] == 100.0
    assert events.named("Integrity.Drift.Detected") == []


def test_an_out_of_band_edit_is_one_mismatch_with_evidence_and_the_baseline_is_untouched(
        world: CosmosGateway, events: Recorded) -> None:
    target = WORLD[7]
    baseline_docs_before = all_docs(world, BASELINES)
    edited = edit_out_of_band(world, target["id"], description=target["description"] + " A rat gnaws here.")

    summary = run_check(world, AT)

    assert summary is not None and summary.result is RunResult.DRIFT
    assert summary.counts == {"match": 34, "mismatch": 1, "new": 0, "missing": 0}
    [finding] = all_docs(world, FINDINGS)
    assert finding["location_id"] == target["id"] and finding["verdict"] == "mismatch"
    assert finding["expected_hash"] == independent_hash(target)
    assert finding["actual_hash"] == independent_hash(edited) != finding["expected_hash"]
    evidence = finding["evidence"]
    assert evidence["document"]["description"].endswith("A rat gnaws here.")
    assert location_hash(evidence["document"]) == finding["actual_hash"]  # the evidence re-hashes to what was seen
    assert evidence["etag"] == edited["_etag"] and evidence["modified_at"].startswith("20")
    # the baseline: same documents, same version, same hash for the edited location
    assert all_docs(world, BASELINES) == baseline_docs_before
    latest = baselines.latest_baseline(world)
    assert latest is not None and latest.version == 1 and latest.hashes[target["id"]] == independent_hash(target)
    assert [(e["game.location.id"], e["game.integrity.verdict"]) for e in events.named("Integrity.Drift.Detected")] \
        == [(target["id"], "mismatch")]


def test_drift_is_reported_again_by_each_run_without_touching_earlier_findings(world: CosmosGateway) -> None:
    edit_out_of_band(world, WORLD[0]["id"], name="Renamed")
    run_check(world, AT)
    [first] = all_docs(world, FINDINGS)
    run_check(world, AT + timedelta(minutes=15))
    stored = sorted(all_docs(world, FINDINGS), key=lambda f: f["run_id"])
    assert len(stored) == 2 and stored[0] == first
    assert stored[1]["run_id"] == "run:2026-12-03T19:20:00Z" and stored[1]["actual_hash"] == first["actual_hash"]


def test_a_deleted_location_is_missing_and_an_added_one_is_new(world: CosmosGateway, events: Recorded) -> None:
    gone, template = WORLD[3], WORLD[4]
    locations(world).proxy.delete_item(gone["id"], partition_key=gone["id"])
    intruder = {**copy.deepcopy(template), "id": str(uuid.uuid4()), "name": "A Door That Was Never There"}
    locations(world).proxy.create_item(intruder)

    summary = run_check(world, AT)

    assert summary is not None and summary.counts == {"match": 34, "mismatch": 0, "new": 1, "missing": 1}
    by_id = {f["location_id"]: f for f in all_docs(world, FINDINGS)}
    assert by_id[gone["id"]]["verdict"] == "missing" and by_id[gone["id"]]["actual_hash"] is None
    assert by_id[gone["id"]]["expected_hash"] == independent_hash(gone) and by_id[gone["id"]]["evidence"] is None
    assert by_id[intruder["id"]]["verdict"] == "new" and by_id[intruder["id"]]["expected_hash"] is None
    assert by_id[intruder["id"]]["actual_hash"] == independent_hash(intruder)
    assert by_id[intruder["id"]]["evidence"]["document"]["name"] == "A Door That Was Never There"
    assert sorted(e["game.integrity.verdict"] for e in events.named("Integrity.Drift.Detected")) == ["missing", "new"]
    [completed] = events.named("Integrity.Run.Completed")
    assert completed["game.integrity.new_count"] == 1 and completed["game.integrity.missing_count"] == 1


def test_a_document_json_cannot_canonicalise_is_a_mismatch_not_a_crash(world: CosmosGateway) -> None:
    edit_out_of_band(world, WORLD[2]["id"], version=2**60)
    summary = run_check(world, AT)
    assert summary is not None and summary.counts["mismatch"] == 1
    [finding] = all_docs(world, FINDINGS)
    assert finding["actual_hash"] is None
    assert finding["evidence"]["document"]["version"] > 2**53  # kept (as the double Cosmos stores) for the operator


# --- field case 10: one occurrence, one run -----------------------------------------------------------------------

def test_case_10_the_same_occurrence_twice_runs_once(world: CosmosGateway, events: Recorded) -> None:
    edit_out_of_band(world, WORLD[1]["id"], description="changed")
    assert run_check(world, AT) is not None
    assert run_check(world, AT) is None
    assert len(all_docs(world, RUNS)) == 1 and len(all_docs(world, FINDINGS)) == 1
    assert len(events.named("Integrity.Run.Completed")) == 1 and len(events.named("Integrity.Drift.Detected")) == 1
    assert events.named("Integrity.Run.Skipped") == [{"game.integrity.run_id": "run:2026-12-03T19:05:00Z",
                                                      "game.timer.scheduled_for": "2026-12-03T19:05:00Z",
                                                      "_MS.sampleRate": 100.0}]


def test_case_10_concurrent_invocations_of_one_occurrence_run_once(world: CosmosGateway, events: Recorded) -> None:
    edit_out_of_band(world, WORLD[5]["id"], tags=["changed"])
    start = threading.Barrier(8)
    results: list[Any] = []

    def invoke() -> None:
        start.wait()
        results.append(run_check(world, AT + timedelta(microseconds=1)))  # same occurrence to the second

    threads = [threading.Thread(target=invoke) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 8 and sum(result is not None for result in results) == 1
    assert len(all_docs(world, RUNS)) == 1 and len(all_docs(world, FINDINGS)) == 1
    assert len(events.named("Integrity.Run.Completed")) == 1 and len(events.named("Integrity.Run.Skipped")) == 7
    assert len(events.named("Integrity.Drift.Detected")) == 1
    assert latest_report(world)["run"]["counts"]["mismatch"] == 1


def test_a_run_that_crashed_midway_does_not_block_the_next_occurrence(
        world: CosmosGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    for location in WORLD[:3]:
        edit_out_of_band(world, location["id"], description="changed")
    run_check(world, AT)  # a completed run first, so the report has something to show
    real = findings_module.record_finding
    calls: list[str] = []

    def crash_on_second(*args: Any, **kwargs: Any) -> Any:
        calls.append("x")
        if len(calls) == 2:
            raise RuntimeError("instance lost mid-run")
        return real(*args, **kwargs)

    monkeypatch.setattr("integrity.check.record_finding", crash_on_second)
    crashed_at = AT + timedelta(minutes=15)
    with pytest.raises(RuntimeError):
        run_check(world, crashed_at)
    monkeypatch.setattr("integrity.check.record_finding", real)

    assert run_check(world, crashed_at) is None  # its claim stands: a duplicate firing still does nothing
    report = latest_report(world)
    assert report["run"]["id"] == "run:2026-12-03T19:05:00Z" and len(report["findings"]) == 3
    assert report["unfinished_run"]["id"] == "run:2026-12-03T19:20:00Z"
    assert report["unfinished_run"]["status"] == "started"

    summary = run_check(world, AT + timedelta(minutes=30))
    assert summary is not None and summary.counts["mismatch"] == 3
    report = latest_report(world)
    assert report["run"]["id"] == "run:2026-12-03T19:35:00Z" and report["unfinished_run"] is None
    assert {f["location_id"] for f in report["findings"]} == {location["id"] for location in WORLD[:3]}


def test_a_missing_signing_key_fails_before_the_occurrence_is_claimed(
        world: CosmosGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INTEGRITY_SIGNING_KEY)
    with pytest.raises(AppError) as raised:
        run_check(world, AT)
    assert INTEGRITY_SIGNING_KEY in raised.value.message and KEY not in raised.value.message
    assert all_docs(world, RUNS) == []
    monkeypatch.setenv(INTEGRITY_SIGNING_KEY, KEY)
    assert run_check(world, AT) is not None  # once configured, the same occurrence runs


# --- the baseline's own integrity ---------------------------------------------------------------------------------

def tamper_latest_baseline(cosmos: CosmosGateway, location_id: str, new_hash: str) -> None:
    proxy = cosmos.container(BASELINES).proxy
    [document] = list(proxy.query_items("SELECT TOP 1 * FROM c ORDER BY c.version DESC",
                                        enable_cross_partition_query=True))
    document["hashes"][location_id] = new_hash
    proxy.replace_item(document["id"], document)


def test_a_tampered_baseline_is_reported_and_never_used(world: CosmosGateway, events: Recorded) -> None:
    """Someone "fixes" drift by writing the new hash into the baseline: the signature no longer verifies."""
    target = WORLD[9]
    edited = edit_out_of_band(world, target["id"], description="quietly rewritten")
    tamper_latest_baseline(world, target["id"], location_hash(edited))

    summary = run_check(world, AT)

    assert summary is not None and summary.result is RunResult.BASELINE_REJECTED
    assert summary.baseline_problem == "bad_signature" and summary.baseline_version == 1
    assert all_docs(world, FINDINGS) == []
    assert events.named("Integrity.Baseline.Rejected")[0]["game.integrity.baseline_problem"] == "bad_signature"
    assert events.named("Integrity.Run.Completed")[0]["game.integrity.result"] == "baseline_rejected"
    with pytest.raises(BaselineRejected):
        baselines.latest_baseline(world)
    with pytest.raises(AppError) as refused:
        baselines.record_update(world, target["id"], edited)
    assert refused.value.error is ErrorCode.CONFLICT
    report = latest_report(world)
    assert report["run"]["result"] == "baseline_rejected" and report["run"]["baseline_problem"] == "bad_signature"

    # recovery is a deliberate full re-baseline: a new version, the tampered one kept as evidence
    recovered = baselines.record_baseline(world, BaselineSource.SEED)
    assert recovered.version == 2 and len(all_docs(world, BASELINES)) == 2
    assert run_check(world, AT + timedelta(hours=1)).result is RunResult.CLEAN  # type: ignore[union-attr]


def test_a_baseline_signed_with_another_key_is_rejected_as_such(
        world: CosmosGateway, events: Recorded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INTEGRITY_SIGNING_KEY, "a-rotated-signing-key-abcdefghij")
    summary = run_check(world, AT)
    assert summary is not None and summary.result is RunResult.BASELINE_REJECTED
    assert summary.baseline_problem == BaselineProblem.OTHER_KEY.value


def test_no_baseline_is_reported_not_invented(cosmos: CosmosGateway, events: Recorded) -> None:
    for location in WORLD:
        locations(cosmos).upsert(copy.deepcopy(location), partition_key=location["id"])
    summary = run_check(cosmos, AT)
    assert summary is not None and summary.result is RunResult.NO_BASELINE
    assert all_docs(cosmos, BASELINES) == [] and all_docs(cosmos, FINDINGS) == []
    with pytest.raises(AppError):
        baselines.record_update(cosmos, WORLD[0]["id"], WORLD[0])


# --- app-made changes -----------------------------------------------------------------------------------------------

def test_an_app_update_sealed_with_record_update_is_not_drift(world: CosmosGateway, events: Recorded) -> None:
    target = WORLD[11]
    current = locations(world).read(target["id"], target["id"])
    assert current is not None
    written = {k: v for k, v in current.items() if not k.startswith("_")}
    written.update(description="The innkeeper repainted the sign.", version=target["version"] + 1)
    locations(world).replace_if_match(written, target["id"], current["_etag"])

    sealed = baselines.record_update(world, target["id"], written)

    assert sealed.version == 2 and sealed.source is BaselineSource.APP_UPDATE
    assert sealed.hashes[target["id"]] == independent_hash(written)
    assert baselines.record_update(world, target["id"], written).version == 2  # redelivery: nothing appended
    assert baselines.record_update(world, target["id"], location_hash(written)).version == 2
    summary = run_check(world, AT)
    assert summary is not None and summary.result is RunResult.CLEAN and summary.baseline_version == 2
    recorded = events.named("Integrity.Baseline.Recorded")
    assert [(e["game.integrity.baseline_source"], e.get("game.location.id")) for e in recorded] == [
        ("seed", None), ("app-update", target["id"])]


def test_an_app_deletion_sealed_with_record_update_is_not_missing(world: CosmosGateway) -> None:
    gone = WORLD[20]
    locations(world).delete(gone["id"], gone["id"])
    sealed = baselines.record_update(world, gone["id"], None)
    assert gone["id"] not in sealed.hashes and len(sealed.hashes) == 34
    assert run_check(world, AT).result is RunResult.CLEAN  # type: ignore[union-attr]


def test_record_update_refuses_a_document_of_another_location_or_a_non_hash(world: CosmosGateway) -> None:
    with pytest.raises(ValueError):
        baselines.record_update(world, WORLD[0]["id"], WORLD[1])
    with pytest.raises(ValueError):
        baselines.record_update(world, WORLD[0]["id"], "not-a-hash")


def test_concurrent_app_updates_all_land_in_contiguous_versions(world: CosmosGateway) -> None:
    targets = WORLD[:6]
    new_hashes = {t["id"]: hashlib.sha256(t["id"].encode()).hexdigest() for t in targets}
    start = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def update(location_id: str) -> None:
        start.wait()
        try:
            baselines.record_update(world, location_id, new_hashes[location_id])
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=update, args=(t["id"],)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    latest = baselines.latest_baseline(world)
    assert latest is not None and latest.version == 1 + len(targets)
    assert all(latest.hashes[lid] == h for lid, h in new_hashes.items())  # no update lost
    assert sorted(d["version"] for d in all_docs(world, BASELINES)) == list(range(1, 2 + len(targets)))


def test_reseeding_the_same_world_appends_nothing_and_never_absorbs_out_of_band_additions(
        world: CosmosGateway) -> None:
    intruder = {**copy.deepcopy(WORLD[0]), "id": str(uuid.uuid4())}
    locations(world).proxy.create_item(intruder)
    assert baselines.record_seed(world, WORLD).version == 1
    changed_file = [{**WORLD[0], "description": "A new season's text."}, *WORLD[1:]]
    locations(world).upsert(copy.deepcopy(changed_file[0]), partition_key=WORLD[0]["id"])
    reseeded = baselines.record_seed(world, changed_file)
    assert reseeded.version == 2 and intruder["id"] not in reseeded.hashes
    summary = run_check(world, AT)
    assert summary is not None and summary.counts == {"match": 35, "mismatch": 0, "new": 1, "missing": 0}


def test_every_baseline_version_stays_as_written(world: CosmosGateway) -> None:
    first = all_docs(world, BASELINES)
    baselines.record_update(world, WORLD[0]["id"], "a" * 64)
    baselines.record_baseline(world, BaselineSource.SEED)
    stored = sorted(all_docs(world, BASELINES), key=lambda d: d["version"])
    assert [d["version"] for d in stored] == [1, 2, 3] and stored[0] == first[0]
    assert [d["source"] for d in stored] == ["seed", "app-update", "seed"]
    assert stored[1]["location_id"] == WORLD[0]["id"] and stored[2]["previous_version"] == 2


# --- the functions, through the blueprint and the real wrappers -----------------------------------------------------

def _function(name: str) -> Any:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(bp)
    return next(f for f in app.get_functions() if f.get_function_name() == name).get_user_function()


def test_timer_and_report_through_the_blueprint(world: CosmosGateway, stack: StackEndpoints,
                                                monkeypatch: pytest.MonkeyPatch, events: Recorded) -> None:
    monkeypatch.setenv(INTEGRITY_SCHEDULE, "0 0 0 1 1 *")  # once a year: the occurrence is Jan 1, 00:00
    settings = AppSettings(storage_connection=stack.storage_connection_string, cosmos_endpoint=stack.cosmos_endpoint,
                           cosmos_key=stack.cosmos_key)
    services = runtime.Services(settings, world, QueueProducer(stack.storage_connection_string))
    monkeypatch.setattr(runtime, "_factory", lambda: services)
    monkeypatch.setattr(runtime, "_services", None)
    edit_out_of_band(world, WORLD[6]["id"], description="changed")

    timer = _function("integrity_check")
    timer(TimerRequest(past_due=False), None)
    timer(TimerRequest(past_due=True), None)  # the same occurrence fired again: skipped
    year = datetime.now(UTC).year
    [run] = all_docs(world, RUNS)
    assert run["id"] == f"run:{year}-01-01T00:00:00Z" and run["status"] == "completed"
    assert len(events.named("Integrity.Run.Skipped")) == 1

    report = _function("integrity_report")
    response = report(func.HttpRequest("GET", "/api/integrity/report", body=b"", headers={}), None)
    body = json.loads(response.get_body())
    assert response.status_code == 200 and response.headers["x-correlation-id"] == body["correlation_id"]
    assert body["run"]["id"] == run["id"] and body["run"]["counts"]["mismatch"] == 1
    [finding] = body["findings"]
    assert finding["location_id"] == WORLD[6]["id"] and finding["verdict"] == "mismatch"
    assert set(finding) >= {"expected_hash", "actual_hash", "detected_at", "baseline_version"}
    assert "evidence" not in finding  # the report lists; the finding document keeps the evidence


def test_the_report_before_any_run_is_empty_not_an_error(cosmos: CosmosGateway) -> None:
    assert latest_report(cosmos) == {"run": None, "findings": [], "unfinished_run": None}
