"""Cosmos throttling, field case 9: "Retry storm on one hot document". Expected: one retry layer; no single document
that every writer contends for.

Everything runs on the real local Cosmos server through the real ``azure-cosmos`` SDK and ``shared.cosmos``. The
local server never answers 429, so ``local/throttling_proxy.py`` sits in between: it forwards every request unchanged
and answers 429 (shaped like real Cosmos's, ``x-ms-retry-after-ms: 5``) to the next K requests we name. Counting the
requests that reached the proxy shows how many times anything retried:

- the SDK retries a 429 by itself, at most ``SDK_THROTTLE_RETRIES`` times; our code adds no layer on top, so a
  throttled call costs at most 1 + 9 requests, never a multiple of that;
- the throttles the SDK absorbed are recorded on the call's dependency row
  (``azure.cosmosdb.throttle_retry_count``), and a 429 it gave up on is a failed dependency with status 429;
- AI usage writers never share a document: each generation is a document and a partition of its own; the one
  shared document they touch is the feature's hourly budget, and its optimistic-concurrency loop stays bounded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.cosmos.documents import ConnectionPolicy

from cost import generation
from cost.budget import BudgetLedger, budget_id, window_of
from cost.budget_config import BudgetConfig
from cost.containers import BUDGETS, ROLLUPS, USAGE
from cost.prices import load_prices
from cost.usage import SETTLED, Completion, UsageRecorder
from local.ingest import wait_for_rows
from local.stack import StackEndpoints
from local.throttling_proxy import ThrottlingProxy
from shared.cosmos import ContainerSpec, CosmosGateway, InstrumentedContainer
from shared.errors import AppError, ErrorCode
from tests.conftest import ROOT

SDK_THROTTLE_RETRIES = 9
"""``azure/cosmos/_retry_options.py``: ``RetryOptions(max_retry_attempt_count=9)``, the default every
``documents.ConnectionPolicy`` starts with; ``CosmosGateway`` does not change it."""
ITEMS = ContainerSpec("throttled_items", "/pk")
ITEM_DOCS = f"{ITEMS.name}/docs/{{id}}"
"""The proxy's name for requests on one document of ``ITEMS`` (``GET``: read, ``PUT``: replace …)."""
ESTIMATED_AT = datetime(2026, 3, 1, 14, 20, tzinfo=UTC)
REPORTED_AT = ESTIMATED_AT + timedelta(seconds=3)
USD = 1_000_000_000


@pytest.fixture(scope="module")
def proxy(stack: StackEndpoints) -> Iterator[ThrottlingProxy]:
    with ThrottlingProxy(stack.cosmos_endpoint) as running:
        yield running
    assert running.threads == []


@pytest.fixture(scope="module")
def gateway(stack: StackEndpoints, proxy: ThrottlingProxy) -> CosmosGateway:
    """A gateway that talks to the real local Cosmos server through the proxy, on a database of its own."""
    return CosmosGateway(proxy.url, stack.cosmos_key, f"throttling-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def items(gateway: CosmosGateway) -> InstrumentedContainer:
    return gateway.container(ITEMS)


@pytest.fixture(autouse=True)
def _fresh_counts(request: pytest.FixtureRequest) -> None:
    if "proxy" in request.fixturenames:
        request.getfixturevalue("proxy").reset()


def _document(items: InstrumentedContainer, proxy: ThrottlingProxy) -> str:
    """A stored document of its own; the proxy forgets the requests that stored it."""
    key = uuid.uuid4().hex
    items.upsert({"id": key, "pk": key, "n": 1}, partition_key=key)
    proxy.reset()
    return key


# --- one retry layer: the SDK's ------------------------------------------------------------------------------------

def test_the_sdk_retry_budget_is_the_documented_default() -> None:
    assert ConnectionPolicy().RetryOptions.MaxRetryAttemptCount == SDK_THROTTLE_RETRIES


OPERATIONS: dict[str, tuple[str, Callable[[InstrumentedContainer, str], Any]]] = {
    "read": ("GET", lambda c, key: c.read(key, partition_key=key)),
    "upsert": ("POST", lambda c, key: c.upsert({"id": key, "pk": key, "n": 2}, partition_key=key)),
    "replace_if_match": ("PUT", lambda c, key: c.replace_if_match(
        {"id": key, "pk": key, "n": 2}, key, c.read(key, partition_key=key)["_etag"])),
    "query": ("POST", lambda c, key: c.query("SELECT * FROM c WHERE c.pk = @pk", {"@pk": key}, partition_key=key)),
    "delete": ("DELETE", lambda c, key: c.delete(key, partition_key=key)),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_three_throttles_are_absorbed_by_the_sdk_alone_with_three_retries(
        operation: str, items: InstrumentedContainer, proxy: ThrottlingProxy) -> None:
    """Every gateway operation: K=3 throttles, the call succeeds, and exactly K+1 requests of its kind went out
    (the SDK's K retries, nothing of ours)."""
    method, call = OPERATIONS[operation]
    key = _document(items, proxy)
    proxy.throttle_next(3, method=method, path_contains="/docs")

    assert call(items, key)

    assert proxy.throttles_pending == 0
    ours = [s.status for s in proxy.seen if s.method == method and s.kind.startswith(f"{ITEMS.name}/docs")]
    assert ours == [429, 429, 429, ours[-1]] and ours[-1] < 300


def test_a_throttled_point_read_costs_exactly_k_plus_one_requests(
        items: InstrumentedContainer, proxy: ThrottlingProxy) -> None:
    key = _document(items, proxy)
    proxy.throttle_next(3, method="GET", path_contains="/docs/")

    assert items.read(key, partition_key=key)["n"] == 1

    assert proxy.counts() == {("GET", ITEM_DOCS): 3 + 1}
    assert [s.status for s in proxy.seen] == [429, 429, 429, 200]


def test_a_throttle_longer_than_the_sdk_budget_fails_as_throttled_after_exactly_one_plus_nine_requests(
        items: InstrumentedContainer, proxy: ThrottlingProxy) -> None:
    """K=20 > 9: the SDK gives up after its 9 retries and the gateway surfaces ``throttled`` (the queue host may
    redeliver the message later; that is the next layer, not this call's). Exactly 10 requests: a retry layer of
    ours on top of the SDK's would show up as a multiple of 10."""
    key = _document(items, proxy)
    proxy.throttle_next(20, method="GET", path_contains="/docs/")

    with pytest.raises(AppError) as raised:
        items.read(key, partition_key=key)

    assert raised.value.error is ErrorCode.THROTTLED
    assert proxy.counts() == {("GET", ITEM_DOCS): 1 + SDK_THROTTLE_RETRIES}
    assert all(s.throttled for s in proxy.seen)
    assert proxy.throttles_pending == 20 - (1 + SDK_THROTTLE_RETRIES)


# --- the throttles absorbed are visible in telemetry ----------------------------------------------------------------

TELEMETRY_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from local.throttling_proxy import ThrottlingProxy
    from shared.cosmos import ContainerSpec, CosmosGateway
    from shared.errors import AppError, ErrorCode
    from shared.settings import AppSettings
    from shared.telemetry import flush
    from shared.telemetry.setup import configure

    database, container = sys.argv[1], sys.argv[2]
    assert configure(AppSettings.from_environ()) is not None
    with ThrottlingProxy(os.environ["COSMOS_ENDPOINT"]) as proxy:
        items = CosmosGateway(proxy.url, os.environ["COSMOS_KEY"], database).container(ContainerSpec(container, "/pk"))
        for key in ("absorbed", "given-up"):
            items.upsert({"id": key, "pk": key}, partition_key=key)
        proxy.reset()
        proxy.throttle_next(2, method="GET", path_contains="/docs/absorbed")
        assert items.read("absorbed", partition_key="absorbed") is not None
        proxy.throttle_next(20, method="GET", path_contains="/docs/given-up")
        try:
            items.read("given-up", partition_key="given-up")
            raise SystemExit("the read throttled 20 times succeeded")
        except AppError as exc:
            assert exc.error is ErrorCode.THROTTLED
        print(json.dumps([[s.name, s.status] for s in proxy.seen]))
    assert flush()
""")


@pytest.fixture(scope="module")
def throttled_reads(stack: StackEndpoints) -> dict[str, Any]:
    """One fresh process (telemetry providers are process-global): a read throttled twice, one throttled for good."""
    role, container = f"throttling-{uuid.uuid4().hex[:8]}", f"telemetry_{uuid.uuid4().hex[:8]}"
    env = {**stack.app_settings(), "WEBSITE_SITE_NAME": role, "TELEMETRY_SAMPLING_PERCENTAGE": "100",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", TELEMETRY_SCRIPT, role, container], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    name = f"{container} read_item"

    def row(key: str) -> dict[str, Any]:
        found = wait_for_rows(stack.telemetry_dir, "dependencies", lambda r: r["cloud_RoleName"] == role and
                              r["name"] == name and r["customDimensions"].get("azure.cosmosdb.partition_key") == key)
        assert len(found) == 1
        return found[0]

    by_key = {key: row(key) for key in ("absorbed", "given-up")}
    return {"rows": by_key, "wire": [tuple(pair) for pair in json.loads(done.stdout)]}


def test_in_the_telemetry_process_the_wire_shows_one_retry_layer(throttled_reads: dict[str, Any]) -> None:
    assert throttled_reads["wire"] == [("absorbed", 429), ("absorbed", 429), ("absorbed", 200),
                                       *[("given-up", 429)] * (1 + SDK_THROTTLE_RETRIES)]


def test_a_throttle_the_sdk_gave_up_on_is_a_failed_dependency_with_status_429(
        throttled_reads: dict[str, Any]) -> None:
    row = throttled_reads["rows"]["given-up"]
    assert row["success"] is False
    assert row["customDimensions"]["azure.cosmosdb.response.status_code"] == "429"
    assert row["customDimensions"]["azure.cosmosdb.response.sub_status_code"] == "3200"


def test_the_throttles_the_sdk_absorbed_are_recorded_on_the_dependency_row(throttled_reads: dict[str, Any]) -> None:
    absorbed, given_up = throttled_reads["rows"]["absorbed"], throttled_reads["rows"]["given-up"]
    assert absorbed["success"] is True
    assert absorbed["customDimensions"]["azure.cosmosdb.response.status_code"] == "200"
    assert absorbed["customDimensions"]["azure.cosmosdb.throttle_retry_count"] == "2"
    assert given_up["customDimensions"]["azure.cosmosdb.throttle_retry_count"] == str(SDK_THROTTLE_RETRIES)


# --- no document that every writer contends for ---------------------------------------------------------------------

def _completion(feature: str, generation_id: str) -> Completion:
    """Built from the queue payload exactly as ``cost.functions.on_ai_generation_completed`` builds it."""
    return Completion.from_payload({
        "generation_id": generation_id, "feature": feature, "model": "gpt-4o",
        "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "cached_tokens": 1920},
        "estimated_input_tokens": 1990,
    })


def _estimated(ledger: BudgetLedger, feature: str, n: int) -> list[str]:
    """``n`` generations admitted by the budget, as ``POST /api/ai/estimate`` admits them (not counted)."""
    ids = [generation.new_id(ESTIMATED_AT) for _ in range(n)]
    for generation_id in ids:
        assert ledger.admit(feature, generation_id, 10_000_000, ESTIMATED_AT).admitted
    return ids


@pytest.fixture(scope="module")
def recorder(gateway: CosmosGateway) -> tuple[UsageRecorder, BudgetLedger, InstrumentedContainer]:
    """The queue handler's recorder (``cost.functions.on_ai_generation_completed``) on the proxied gateway."""
    ledger = BudgetLedger(gateway.container(BUDGETS), BudgetConfig(default_cap_nusd=100 * USD, soft_percent=80))
    usage = gateway.container(USAGE)
    gateway.container(ROLLUPS)  # exists, as in the app: the writers must still never touch it
    return UsageRecorder(usage, ledger, load_prices()), ledger, usage


def _record_all(recorder: UsageRecorder, feature: str, ids: list[str], workers: int) -> None:
    start = threading.Barrier(min(workers, len(ids)))

    def record(generation_id: str) -> bool:
        if ids.index(generation_id) < workers:
            start.wait(timeout=10)
        return recorder.record(_completion(feature, generation_id), reported_at=REPORTED_AT,
                               now=REPORTED_AT).duplicate

    with ThreadPoolExecutor(max_workers=workers) as pool:
        assert not any(pool.map(record, ids))


def test_thirty_generations_are_thirty_documents_in_thirty_partitions_and_no_writer_touches_the_hourly_total(
        recorder: tuple[UsageRecorder, BudgetLedger, InstrumentedContainer], proxy: ThrottlingProxy) -> None:
    """The queue handler's path for 30 generations of one feature in one hour, 8 at a time. Each usage record is
    its own document with its own partition key (``/id`` = the generation id), so writers never contend on it; no
    hourly total is written by them: the rollup timer computes it later from the records (``cost/rollup.py``)."""
    usage_recorder, ledger, usage = recorder
    feature = f"case9-{uuid.uuid4().hex[:6]}"
    ids = _estimated(ledger, feature, 30)
    proxy.reset()

    _record_all(usage_recorder, feature, ids, workers=8)

    stored = usage.query("SELECT c.id, c.generation_id, c.state FROM c WHERE c.feature = @f", {"@f": feature})
    assert USAGE.partition_key_path == "/id"
    assert sorted(d["id"] for d in stored) == sorted(ids)
    assert all(d["generation_id"] == d["id"] and d["state"] == SETTLED for d in stored)
    writes = [s for s in proxy.seen if s.method in ("POST", "PUT", "PATCH", "DELETE") and not s.kind.endswith("#query")]
    assert {s.kind.split("/")[0] for s in writes} == {USAGE.name, BUDGETS.name}  # never ai_rollups
    usage_keys = Counter(json.loads(s.partition_key)[0] for s in writes if s.kind.startswith(f"{USAGE.name}/"))
    assert sorted(usage_keys) == sorted(ids)
    assert set(usage_keys.values()) == {2}  # per generation: create, then mark settled; nobody else's key
    budget_documents = {s.name for s in writes if s.kind.startswith(f"{BUDGETS.name}/")}
    assert budget_documents == {budget_id(feature, window_of(ESTIMATED_AT))}


def test_eight_concurrent_settlements_of_the_hourly_budget_cost_a_bounded_number_of_replaces(
        recorder: tuple[UsageRecorder, BudgetLedger, InstrumentedContainer], gateway: CosmosGateway,
        proxy: ThrottlingProxy) -> None:
    """The one document the writers share is the feature's budget for the hour, and it is inherent to field case 6:
    a hard cap that refuses work atomically needs one place holding "spent + reserved" that an admission can
    conditionally replace (ETag), so that eight instances cannot all pass a check and then all spend. Splitting it
    would bring the check-then-spend race back. What case 9 forbids is the storm on it, so its writes are bounded:
    a settlement loses a replace (412) only to another settlement that won after its read, it re-reads before it
    tries again, and two settlements cannot each lose to the other. So n concurrent settlements make at most
    n wins + n(n-1)/2 losses = n(n+1)/2 replaces in all (36 for 8: 4.5 per settlement), however unlucky the
    interleaving; a replace retried without a re-read, or a retry of 429s on top of the SDK's, would exceed it.
    The budget document's requests take a 20 ms round trip here, as to a remote account: the settlements then run
    nearly in lock-step, the interleaving that comes closest to the bound."""
    usage_recorder, ledger, _ = recorder
    feature, n = f"case9-{uuid.uuid4().hex[:6]}", 8
    ids = _estimated(ledger, feature, n)
    proxy.reset()
    proxy.round_trip(20, path_contains=f"/colls/{BUDGETS.name}/docs")

    _record_all(usage_recorder, feature, ids, workers=n)

    budget = gateway.container(BUDGETS).read(budget_id(feature, window_of(ESTIMATED_AT)), partition_key=feature)
    assert (budget["spent_nusd"], budget["reserved_nusd"], budget["pending"]) == (n * 5_615_000, 0, {})
    replaces = [s.status for s in proxy.seen if s.method == "PUT" and s.kind == f"{BUDGETS.name}/docs/{{id}}"]
    assert replaces.count(200) == n
    assert len(replaces) <= n * (n + 1) // 2
    assert set(replaces) <= {200, 412}
