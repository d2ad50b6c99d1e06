"""Usage records (plan #303/#305) on the real local Cosmos server: what the provider reports is what is billed, one
record per generation, the budget reservation settled once, and a redelivery changes nothing.

Field cases: 7 (the estimate's error is recorded when the provider reports usage) and 9 (no document that every
writer contends for: each generation is a document and a partition of its own).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cost import generation
from cost.budget import BudgetLedger, budget_id, window_of
from cost.budget_config import BudgetConfig
from cost.containers import BUDGETS, USAGE
from cost.prices import Usage, load_prices
from cost.usage import RECORDED, SETTLED, Completion, UsageRecorder
from shared.cosmos import CosmosGateway
from shared.errors import AppError

ESTIMATED_AT = datetime(2026, 3, 1, 14, 59, 58, tzinfo=UTC)
REPORTED_AT = ESTIMATED_AT + timedelta(seconds=4)  # the next hour: the reservation stays in the estimate's window


@pytest.fixture(scope="module")
def parts(gateway: CosmosGateway) -> tuple[UsageRecorder, BudgetLedger, Any]:
    ledger = BudgetLedger(gateway.container(BUDGETS), BudgetConfig(default_cap_nusd=10**9, soft_percent=80))
    usage = gateway.container(USAGE)
    return UsageRecorder(usage, ledger, load_prices()), ledger, usage




def _completion(feature: str, generation_id: str, model: str = "gpt-4o") -> Completion:
    return Completion(generation_id, feature, model, Usage(2006, 300, cached_tokens=1920, reasoning_tokens=0),
                      estimated_input_tokens=1990)


def _budget(ledger: BudgetLedger, feature: str) -> dict[str, Any]:
    doc = ledger._container.read(budget_id(feature, window_of(ESTIMATED_AT)), partition_key=feature)  # noqa: SLF001
    assert doc is not None
    return doc


def test_a_reported_generation_is_priced_recorded_once_and_settles_its_reservation(
        parts: tuple[UsageRecorder, BudgetLedger, Any], emitted: list[tuple[str, dict[str, Any]]]) -> None:
    recorder, ledger, usage = parts
    feature, generation_id = f"f-{uuid.uuid4().hex[:6]}", generation.new_id(ESTIMATED_AT)
    assert ledger.admit(feature, generation_id, 25_000_000, ESTIMATED_AT).admitted
    first = recorder.record(_completion(feature, generation_id), reported_at=REPORTED_AT, now=REPORTED_AT)
    again = recorder.record(_completion(feature, generation_id), reported_at=REPORTED_AT, now=REPORTED_AT)
    assert not first.duplicate and again.duplicate
    record = usage.read(generation_id, partition_key=generation_id)
    assert record["cost_nusd"] == 5_615_000 and record["state"] == SETTLED and record["reserved"] is True
    assert record["hour"] == "2026-03-01T15" and record["budget_window"] == "2026-03-01T14"
    assert record["estimate_error_tokens"] == 2006 - 1990
    budget = _budget(ledger, feature)
    assert (budget["spent_nusd"], budget["reserved_nusd"], budget["pending"]) == (5_615_000, 0, {})
    recorded = [dims for name, dims in emitted if name == "Ai.Cost.Recorded"]
    assert len(recorded) == 1
    assert {k: recorded[0][k] for k in ("gen_ai.usage.input_tokens", "gen_ai.usage.cache_read.input_tokens",
                                        "gen_ai.usage.output_tokens", "game.ai.cost_nusd",
                                        "game.ai.estimate_error_tokens", "game.ai.price.ceiling")} == {
        "gen_ai.usage.input_tokens": 2006, "gen_ai.usage.cache_read.input_tokens": 1920,
        "gen_ai.usage.output_tokens": 300, "game.ai.cost_nusd": 5_615_000, "game.ai.estimate_error_tokens": 16,
        "game.ai.price.ceiling": False}


def test_a_crash_after_the_record_is_written_is_recovered_without_counting_twice(
        parts: tuple[UsageRecorder, BudgetLedger, Any], emitted: list[tuple[str, dict[str, Any]]]) -> None:
    recorder, ledger, usage = parts
    feature, generation_id = f"f-{uuid.uuid4().hex[:6]}", generation.new_id(ESTIMATED_AT)
    ledger.admit(feature, generation_id, 25_000_000, ESTIMATED_AT)
    completion = _completion(feature, generation_id)
    recorder._create(completion, REPORTED_AT, REPORTED_AT)  # noqa: SLF001 - the first attempt died right after this
    assert usage.read(generation_id, partition_key=generation_id)["state"] == RECORDED
    assert not recorder.record(completion, reported_at=REPORTED_AT).duplicate
    assert recorder.record(completion, reported_at=REPORTED_AT).duplicate
    assert _budget(ledger, feature)["spent_nusd"] == 5_615_000
    assert [n for n, _ in emitted].count("Ai.Cost.Recorded") == 1


def test_a_generation_without_reservation_is_charged_once_in_its_reports_window(
        parts: tuple[UsageRecorder, BudgetLedger, Any]) -> None:
    recorder, ledger, _ = parts
    feature, foreign_id = f"f-{uuid.uuid4().hex[:6]}", str(uuid.uuid4())  # not issued by an estimate
    completion = _completion(feature, foreign_id)
    for _ in range(2):
        recorder.record(completion, reported_at=ESTIMATED_AT, now=ESTIMATED_AT)
    record = recorder._usage.read(foreign_id, partition_key=foreign_id)  # noqa: SLF001
    assert record["reserved"] is False and record["budget_window"] == window_of(ESTIMATED_AT)
    assert _budget(ledger, feature)["spent_nusd"] == 5_615_000


def test_an_unknown_model_is_recorded_at_the_ceiling_and_flagged(
        parts: tuple[UsageRecorder, BudgetLedger, Any]) -> None:
    recorder, _, _ = parts
    feature, generation_id = f"f-{uuid.uuid4().hex[:6]}", generation.new_id(ESTIMATED_AT)
    record = recorder.record(_completion(feature, generation_id, model="gpt-99-preview"),
                             reported_at=REPORTED_AT).record
    assert record["price_ceiling"] is True and record["priced_as"] == "*ceiling*"
    assert record["cost_nusd"] == 86 * 15_000 + 1920 * 15_000 + 300 * 60_000


def test_generation_ids_carry_their_issue_time() -> None:
    issued = generation.new_id(ESTIMATED_AT)
    assert uuid.UUID(issued).version == 7
    assert generation.issued_at(issued) == ESTIMATED_AT.replace(microsecond=0)
    assert generation.issued_at(str(uuid.uuid4())) is None and generation.issued_at("nope") is None
    assert len({generation.new_id(ESTIMATED_AT) for _ in range(1000)}) == 1000


@pytest.mark.parametrize(("counts", "field"), [
    ({"prompt_tokens": 10, "completion_tokens": 1, "cached_tokens": 11}, "usage.cached_tokens"),
    ({"prompt_tokens": 10, "completion_tokens": 1, "reasoning_tokens": 2}, "usage.reasoning_tokens"),
])
def test_inconsistent_reported_usage_is_a_validation_error(counts: dict[str, int], field: str) -> None:
    payload = {"generation_id": str(uuid.uuid4()), "feature": "f", "model": "gpt-4o", "usage": counts,
               "estimated_input_tokens": 5}
    with pytest.raises(AppError) as caught:
        Completion.from_payload(payload)
    assert caught.value.field == field and caught.value.error.code == "validation_failed"
