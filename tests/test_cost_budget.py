"""Budget guardrails (plan #305) against the real local Cosmos server, through the real SDK.

Field cases: 5 (float drift defeats the cap: with integer nano-USD, 0.10 + 0.70 reaches a 0.80 cap exactly and the
cap trips) and 6 (eight concurrent calls with 0.010 USD left, 0.005 each: at most two admitted — admission is an
ETag-conditional write, so there is no check-then-spend race). The soft alert is raised once per window, also
when several admissions cross the threshold at the same moment.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from cost.budget import BudgetLedger, Decision, budget_id, window_of
from cost.budget_config import BudgetConfig, BudgetConfigError, load_budgets
from cost.containers import BUDGETS
from cost.money import usd_to_nusd
from shared.cosmos import CosmosGateway, InstrumentedContainer

AT = datetime(2026, 3, 1, 14, 20, tzinfo=UTC)
USD = 1_000_000_000


def _feature(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def _config(feature: str, cap_usd: str, soft_percent: int = 80) -> BudgetConfig:
    return BudgetConfig(default_cap_nusd=USD, soft_percent=soft_percent,
                        caps_nusd={feature: usd_to_nusd(Decimal(cap_usd))})


@pytest.fixture(scope="module")
def container(gateway: CosmosGateway) -> InstrumentedContainer:
    return gateway.container(BUDGETS)




def _doc(container: InstrumentedContainer, feature: str) -> dict[str, Any]:
    found = container.read(budget_id(feature, window_of(AT)), partition_key=feature)
    assert found is not None
    return found


def _gen() -> str:
    return str(uuid.uuid4())


def test_case_5_the_cap_is_reached_exactly_and_trips(container: InstrumentedContainer,
                                                     emitted: list[tuple[str, dict[str, Any]]]) -> None:
    feature = _feature("case-five")
    ledger = BudgetLedger(container, _config(feature, "0.80"))
    first, second = _gen(), _gen()
    assert ledger.admit(feature, first, usd_to_nusd(Decimal("0.10")), AT).decision is Decision.ALLOW
    reached = ledger.admit(feature, second, usd_to_nusd(Decimal("0.70")), AT)
    assert reached.admitted and reached.used_nusd == reached.cap_nusd == 800_000_000
    blocked = ledger.admit(feature, _gen(), 1, AT)
    assert blocked.decision is Decision.BLOCK and blocked.used_nusd == 800_000_000
    ledger.settle(feature, window_of(AT), first, usd_to_nusd(Decimal("0.10")), reserved=True)
    ledger.settle(feature, window_of(AT), second, usd_to_nusd(Decimal("0.70")), reserved=True)
    doc = _doc(container, feature)
    assert (doc["spent_nusd"], doc["reserved_nusd"], doc["pending"]) == (800_000_000, 0, {})
    assert ledger.admit(feature, _gen(), 1, AT).decision is Decision.BLOCK
    blocks = [dims for name, dims in emitted if name == "Ai.Budget.Blocked"]
    assert len(blocks) == 2 and blocks[0]["game.ai.budget.cap_nusd"] == 800_000_000
    assert blocks[0]["game.ai.feature"] == feature and blocks[0]["game.ai.budget.used_nusd"] == 800_000_000


def test_an_estimate_that_would_exceed_the_cap_is_blocked_and_reserves_nothing(
        container: InstrumentedContainer) -> None:
    feature = _feature("over")
    ledger = BudgetLedger(container, _config(feature, "0.80"))
    ledger.admit(feature, _gen(), 500_000_000, AT)
    before = _doc(container, feature)
    assert ledger.admit(feature, _gen(), 300_000_001, AT).decision is Decision.BLOCK
    after = _doc(container, feature)
    assert after["_etag"] == before["_etag"]
    assert ledger.admit(feature, _gen(), 300_000_000, AT).admitted  # exactly up to the cap is allowed


def test_case_6_eight_concurrent_calls_with_room_for_two_admit_at_most_two(
        container: InstrumentedContainer) -> None:
    feature = _feature("case-six")
    ledger = BudgetLedger(container, _config(feature, "0.50"))
    earlier = _gen()
    ledger.admit(feature, earlier, usd_to_nusd(Decimal("0.49")), AT)
    ledger.settle(feature, window_of(AT), earlier, usd_to_nusd(Decimal("0.49")), reserved=True)  # 0.010 USD left
    start = threading.Barrier(8)

    def call(_: int) -> Decision:
        start.wait()
        return ledger.admit(feature, _gen(), usd_to_nusd(Decimal("0.005")), AT).decision

    with ThreadPoolExecutor(max_workers=8) as pool:
        decisions = list(pool.map(call, range(8)))
    admitted = [d for d in decisions if d is not Decision.BLOCK]
    assert len(admitted) == 2 and decisions.count(Decision.BLOCK) == 6
    doc = _doc(container, feature)
    assert doc["spent_nusd"] + doc["reserved_nusd"] == usd_to_nusd(Decimal("0.50")) and len(doc["pending"]) == 2


def test_the_soft_alert_is_raised_once_per_window_even_when_crossed_concurrently(
        container: InstrumentedContainer, emitted: list[tuple[str, dict[str, Any]]]) -> None:
    feature = _feature("soft")
    ledger = BudgetLedger(container, _config(feature, "1.00"))
    for _ in range(7):
        assert ledger.admit(feature, _gen(), 100_000_000, AT).decision is Decision.ALLOW  # 0.70
    start = threading.Barrier(6)

    def call(_: int) -> Decision:
        start.wait()
        return ledger.admit(feature, _gen(), 50_000_000, AT).decision

    with ThreadPoolExecutor(max_workers=6) as pool:
        decisions = list(pool.map(call, range(6)))
    assert sorted(d.value for d in decisions) == ["allow"] + ["warn"] * 5  # 0.75, then 0.80 .. 1.00
    alerts = [dims for name, dims in emitted if name == "Ai.Budget.ThresholdCrossed"]
    assert len(alerts) == 1 and alerts[0]["game.ai.budget.soft_percent"] == 80
    assert _doc(container, feature)["soft_alerted"] is True
    assert ledger.admit(feature, _gen(), 1, AT).decision is Decision.BLOCK  # 7 x 0.10 + 6 x 0.05 = 1.00: the cap
    assert len([n for n, _ in emitted if n == "Ai.Budget.ThresholdCrossed"]) == 1


def test_a_new_hour_is_a_new_window(container: InstrumentedContainer) -> None:
    feature = _feature("hourly")
    ledger = BudgetLedger(container, _config(feature, "0.01"))
    assert ledger.admit(feature, _gen(), 10_000_000, AT).admitted
    assert ledger.admit(feature, _gen(), 1, AT).decision is Decision.BLOCK
    assert ledger.admit(feature, _gen(), 1, AT.replace(hour=15, minute=0)).admitted


def test_settling_is_idempotent_per_generation(container: InstrumentedContainer) -> None:
    feature = _feature("settle")
    ledger = BudgetLedger(container, _config(feature, "1.00"))
    window, reserved, foreign = window_of(AT), _gen(), _gen()
    ledger.admit(feature, reserved, 30_000_000, AT)
    assert ledger.is_reserved(feature, window, reserved) and not ledger.is_reserved(feature, window, foreign)
    assert ledger.settle(feature, window, reserved, 12_345_678, reserved=True)
    assert not ledger.settle(feature, window, reserved, 12_345_678, reserved=True)
    assert ledger.settle(feature, window, foreign, 1_000, reserved=False)
    assert not ledger.settle(feature, window, foreign, 1_000, reserved=False)
    doc = _doc(container, feature)
    assert (doc["spent_nusd"], doc["reserved_nusd"], doc["pending"]) == (12_346_678, 0, {})


def test_a_settlement_crossing_the_soft_threshold_raises_the_alert(
        container: InstrumentedContainer, emitted: list[tuple[str, dict[str, Any]]]) -> None:
    feature = _feature("settle-soft")
    ledger = BudgetLedger(container, _config(feature, "0.10"))
    generation = _gen()
    assert ledger.admit(feature, generation, 10_000_000, AT).decision is Decision.ALLOW
    ledger.settle(feature, window_of(AT), generation, 90_000_000, reserved=True)  # the provider billed more
    assert [n for n, _ in emitted].count("Ai.Budget.ThresholdCrossed") == 1


def test_the_shipped_budget_file_loads() -> None:
    config = load_budgets()
    assert config.cap_for("location-generator") == USD and config.cap_for("anything-else") == USD // 2
    assert config.soft_for("location-generator") == 800_000_000


@pytest.mark.parametrize(("text", "named"), [
    ('{"soft_threshold_percent": 80, "default_hourly_cap_usd": 0.5, "features": {"a": 0}}', "features.a: must be > 0"),
    ('{"soft_threshold_percent": 80, "default_hourly_cap_usd": "0.5"}', "default_hourly_cap_usd: must be a JSON num"),
    ('{"soft_threshold_percent": 80}', "default_hourly_cap_usd is required"),
    ('{"soft_threshold_percent": 0, "default_hourly_cap_usd": 1}', "soft_threshold_percent must be an integer"),
    ('{"soft_threshold_percent": 80, "default_hourly_cap_usd": 1, "features": {"Bad Name": 1}}', "features.Bad Name"),
    ('{"soft_threshold_percent": 80, "default_hourly_cap_usd": 0.0000000001}', "at most 9 decimals"),
    ('[1]', "must be a JSON object"),
])
def test_a_bad_budget_file_is_a_loud_error_naming_the_field(text: str, named: str) -> None:
    with pytest.raises(BudgetConfigError) as caught:
        BudgetConfig.from_json(text)
    assert named in str(caught.value)
