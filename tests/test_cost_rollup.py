"""Hourly and daily rollups (plan #304) on the real local Cosmos server: exact, exactly once, resumable.

Field cases: 5 (an hourly total always equals the exact sum of its records) and 10 (a timer occurrence that runs
twice: the second run changes nothing and emits nothing). The property test writes random usage records, runs the
rollup for one occurrence, checks every total against integer sums computed here, and runs it again.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cost.containers import ROLLUPS, USAGE
from cost.periods import hour_key
from cost.rollup import Rollup, Totals, marker_id
from local.stack import StackEndpoints
from shared.cosmos import CosmosGateway

FIRST_HOUR = datetime(2030, 1, 1, 22, tzinfo=UTC)
OCCURRENCE = datetime(2030, 1, 2, 1, 5, tzinfo=UTC)  # hours 22, 23 (day 1 closes) and 00 final; 01 is open
NOW = OCCURRENCE + timedelta(minutes=1)

records_strategy = st.lists(st.fixed_dictionaries({
    "minute": st.integers(0, 4 * 60 - 1),
    "model": st.sampled_from(["gpt-4o", "gpt-4o-mini", "o3-mini"]),
    "feature": st.sampled_from(["dm-narrator", "quest-generator"]),
    "prompt_tokens": st.integers(0, 200_000),
    "cached_share": st.integers(0, 100),
    "completion_tokens": st.integers(0, 16_000),
    "cost_nusd": st.integers(0, 5 * 10**9),
}), max_size=25)


class Parts:
    def __init__(self, stack: StackEndpoints) -> None:
        gateway = CosmosGateway(stack.cosmos_endpoint, stack.cosmos_key, f"rollup-{uuid.uuid4().hex[:8]}")
        self.usage = gateway.container(USAGE)
        self.rollups = gateway.container(ROLLUPS)
        self.rollup = Rollup(self.usage, self.rollups)

    def write(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        records = []
        for row in rows:
            hour = hour_key(FIRST_HOUR + timedelta(minutes=row["minute"]))
            record = {"id": str(uuid.uuid4()), "kind": "usage", "hour": hour, "day": hour[:10],
                      "model": row["model"], "feature": row["feature"], "prompt_tokens": row["prompt_tokens"],
                      "cached_tokens": row["prompt_tokens"] * row["cached_share"] // 100,
                      "completion_tokens": row["completion_tokens"], "reasoning_tokens": 0,
                      "cost_nusd": row["cost_nusd"], "state": "settled"}
            self.usage.create(record, partition_key=record["id"])
            records.append(record)
        return records

    def documents(self) -> dict[str, dict[str, Any]]:
        return {doc["id"]: doc for doc in self.rollups.query("SELECT * FROM c")}




def _expected(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], tuple[Totals, bool]]:
    """(period, model, feature) -> (exact totals, provisional), computed here with plain integer sums."""
    sums: dict[tuple[str, str, str], Totals] = defaultdict(Totals)
    open_hour = hour_key(NOW)
    for record in records:
        one = Totals.of(record)
        sums[(f"hour:{record['hour']}", record["model"], record["feature"])] += one
        if record["day"] == "2030-01-01":
            sums[("day:2030-01-01", record["model"], record["feature"])] += one
    return {key: (totals, key[0] == f"hour:{open_hour}") for key, totals in sums.items()}


def _actual(documents: dict[str, dict[str, Any]]) -> dict[tuple[str, str, str], tuple[Totals, bool]]:
    return {(doc["period"], doc["model"], doc["feature"]): (Totals.of(doc), doc["provisional"])
            for doc in documents.values() if doc["type"] == "rollup"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=records_strategy)
def test_rollup_totals_are_exact_sums_and_a_rerun_changes_nothing(stack: StackEndpoints,
                                                                 rows: list[dict[str, Any]]) -> None:
    parts = Parts(stack)
    records = parts.write(rows)
    first = parts.rollup.run(OCCURRENCE, now=NOW)
    documents = parts.documents()
    assert _actual(documents) == _expected(records)
    markers = {doc["period"]: doc for doc in documents.values() if doc["type"] == "marker"}
    for period, marker in markers.items():
        in_period = [r for r in records if f"hour:{r['hour']}" == period or f"day:{r['day']}" == period]
        assert Totals.of(marker) == sum((Totals.of(r) for r in in_period), Totals())
    assert "hour:2030-01-02T01" not in markers and set(first.finalized) == set(markers)
    again = parts.rollup.run(OCCURRENCE, now=NOW)
    assert again.finalized == [] and again.provisional_writes == 0
    assert parts.documents() == documents  # same content and the same ETags: nothing was written


def test_each_period_is_finalized_once_and_reported_once(stack: StackEndpoints,
                                                         emitted: list[tuple[str, dict[str, Any]]]) -> None:
    parts = Parts(stack)
    parts.write([{"minute": 70, "model": "gpt-4o", "feature": "dm-narrator", "prompt_tokens": 2006,
                  "cached_share": 0, "completion_tokens": 300, "cost_nusd": 5_615_000}])
    assert parts.rollup.finalize_hour(datetime(2030, 1, 1, 23, tzinfo=UTC), OCCURRENCE)
    assert not parts.rollup.finalize_hour(datetime(2030, 1, 1, 23, tzinfo=UTC), OCCURRENCE)  # a second instance
    report = parts.rollup.run(OCCURRENCE, now=NOW)
    assert report.finalized == ["hour:2030-01-02T00", "day:2030-01-01"]
    aggregated = [dims for name, dims in emitted if name == "Ai.Cost.Aggregated"]
    assert [d["game.ai.period"] for d in aggregated] == ["hour:2030-01-01T23", "hour:2030-01-02T00",
                                                         "day:2030-01-01"]
    assert aggregated[0]["game.ai.cost_nusd"] == 5_615_000 and aggregated[0]["game.item.count"] == 1
    assert aggregated[2]["game.ai.cost_nusd"] == 5_615_000 and aggregated[2]["game.ai.period.kind"] == "day"


def test_a_run_that_died_midway_is_completed_by_the_next(stack: StackEndpoints) -> None:
    parts = Parts(stack)
    records = parts.write([{"minute": 10, "model": "o3-mini", "feature": "quest-generator", "prompt_tokens": 100,
                            "cached_share": 50, "completion_tokens": 10, "cost_nusd": 123}] * 3)
    period = "hour:2030-01-01T22"
    partial = {"id": f"{period}|o3-mini|quest-generator", "period": period, "type": "rollup", "kind": "hour",
               "hour": "2030-01-01T22", "day": "2030-01-01", "model": "o3-mini", "feature": "quest-generator",
               "provisional": False, "calls": 1, "cost_nusd": 1}
    parts.rollups.upsert(partial, partition_key=period)  # written by a run that died before its marker
    parts.rollup.run(OCCURRENCE, now=NOW)
    doc = parts.rollups.read(partial["id"], partition_key=period)
    assert doc is not None and (doc["calls"], doc["cost_nusd"]) == (3, 369)
    assert parts.rollups.read(marker_id(period), partition_key=period) is not None
    assert Totals.of(doc) == sum((Totals.of(r) for r in records), Totals())


def test_the_open_hour_is_provisional_and_then_replaced_by_the_final_rollup(stack: StackEndpoints) -> None:
    parts = Parts(stack)
    row = {"minute": 190, "model": "gpt-4o-mini", "feature": "dm-narrator", "prompt_tokens": 10,
           "cached_share": 0, "completion_tokens": 5, "cost_nusd": 7}
    parts.write([row])
    report = parts.rollup.run(OCCURRENCE, now=NOW)
    doc_id = "hour:2030-01-02T01|gpt-4o-mini|dm-narrator"
    assert report.provisional == ["hour:2030-01-02T01"] and report.provisional_writes == 1
    assert parts.rollups.read(doc_id, partition_key="hour:2030-01-02T01")["provisional"] is True
    parts.write([row])  # more usage in the open hour: the next run recomputes the provisional numbers
    parts.rollup.run(OCCURRENCE + timedelta(seconds=10), now=NOW + timedelta(seconds=10))
    assert parts.rollups.read(doc_id, partition_key="hour:2030-01-02T01")["cost_nusd"] == 14
    just_after = datetime(2030, 1, 2, 2, 0, 30, tzinfo=UTC)  # hour 01 has ended but is in its grace period
    report = parts.rollup.run(just_after, now=just_after)
    assert report.provisional == ["hour:2030-01-02T01", "hour:2030-01-02T02"] and report.finalized == []
    assert parts.rollups.read(doc_id, partition_key="hour:2030-01-02T01")["provisional"] is True
    later = OCCURRENCE + timedelta(hours=1)
    assert "hour:2030-01-02T01" in parts.rollup.run(later, now=later).finalized
    final = parts.rollups.read(doc_id, partition_key="hour:2030-01-02T01")
    assert final["provisional"] is False and final["cost_nusd"] == 14 and final["calls"] == 2


def test_a_long_outage_is_caught_up_over_several_runs(stack: StackEndpoints) -> None:
    parts = Parts(stack)
    parts.write([{"minute": 0, "model": "gpt-4o", "feature": "dm-narrator", "prompt_tokens": 1,
                  "cached_share": 0, "completion_tokens": 1, "cost_nusd": 1}])
    rollup = Rollup(parts.usage, parts.rollups, max_hours=2)
    assert rollup.run(OCCURRENCE, now=NOW).finalized == ["hour:2030-01-01T22", "hour:2030-01-01T23",
                                                         "day:2030-01-01"]
    assert rollup.run(OCCURRENCE, now=NOW).finalized == ["hour:2030-01-02T00"]
    assert rollup.run(OCCURRENCE, now=NOW).finalized == []


def test_no_usage_means_nothing_to_roll_up(stack: StackEndpoints) -> None:
    parts = Parts(stack)
    report = parts.rollup.run(OCCURRENCE, now=NOW)
    assert report.finalized == [] and report.provisional_writes == 0 and parts.documents() == {}
