"""Hourly and daily cost rollups per (model, feature), exactly once and resumable (plan #304, field cases 5 and 10).

A timer run (schedule ``COST_ROLLUP_SCHEDULE``, e.g. ``0 5 * * * *``) does three things:

1. every *closed* hour after the last finalized one (closed: its end plus :data:`GRACE` is at or before the
   occurrence time) is finalized: its usage records are summed in Python with integers (the local Cosmos server has
   no GROUP BY), one rollup document per (model, feature) is written with a deterministic id, and a ``final``
   marker is created last with ``create()``. A marker that already exists means another run did the period: skip.
   A run that dies midway leaves no marker, and the next run redoes the period with the same ids: resumable.
2. a day whose last hour is finalized gets its daily rollup the same way, summed from the final hourly rollups.
3. the currently open hour (and an hour that has ended but is still in its grace period) gets *provisional*
   rollups (``provisional: true``), recomputed each run and replaced, so a short demo shows numbers at any time.
   The final run for that hour later overwrites them with the same ids.

Writes are skipped where a document already holds the same totals, so rerunning an occurrence changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cost import attributes as cattr
from cost.events import COST_AGGREGATED
from cost.periods import HOUR, day_key, hour_key, hour_start, hours, iso, parse_hour, utc
from shared.cosmos import InstrumentedContainer
from shared.telemetry import attributes as attr
from shared.telemetry import emit

GRACE: Final = timedelta(minutes=2)
"""An hour is rolled up only this long after it ends (clock skew between instances writing records)."""
MAX_HOURS_PER_RUN: Final = 72
"""Closed hours finalized per run at most (oldest first); the next run resumes where this one stopped."""
MAX_PROVISIONAL_HOURS: Final = 3
"""Hours not yet final that a run refreshes provisionally (the open one, one in its grace period, a late run's)."""
HOUR_KIND: Final = "hour"
DAY_KIND: Final = "day"
_RECORD_FIELDS: Final = ("c.model, c.feature, c.prompt_tokens, c.cached_tokens, c.completion_tokens,"
                         " c.reasoning_tokens, c.cost_nusd")


@dataclass(frozen=True)
class Totals:
    calls: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cost_nusd: int = 0

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Totals:
        """From a usage record (one call) or a rollup document (its ``calls``)."""
        return cls(calls=int(row.get("calls", 1)), **{f.name: int(row.get(f.name) or 0)
                                                      for f in fields(cls) if f.name != "calls"})

    def __add__(self, other: Totals) -> Totals:
        return Totals(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def totals_by_key(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Totals]:
    """Exact integer sums per (model, feature)."""
    groups: dict[tuple[str, str], Totals] = {}
    for row in rows:
        key = (row["model"], row["feature"])
        groups[key] = groups.get(key, Totals()) + Totals.of(row)
    return groups


def period_of(kind: str, key: str) -> str:
    return f"{kind}:{key}"


def marker_id(period: str) -> str:
    return f"{period}|final"


def rollup_id(period: str, model: str, feature: str) -> str:
    return f"{period}|{model}|{feature}"


@dataclass
class RunReport:
    finalized: list[str] = field(default_factory=list)
    """Periods this run finalized (and emitted ``Ai.Cost.Aggregated`` for)."""
    already_final: list[str] = field(default_factory=list)
    """Periods another run had finalized."""
    provisional: list[str] = field(default_factory=list)
    """Hours not final yet whose provisional rollups were refreshed: the open hour, and one still in its grace."""
    provisional_writes: int = 0


class Rollup:
    def __init__(self, usage: InstrumentedContainer, rollups: InstrumentedContainer, *,
                 grace: timedelta = GRACE, max_hours: int = MAX_HOURS_PER_RUN) -> None:
        self._usage = usage
        self._rollups = rollups
        self._grace = grace
        self._max_hours = max_hours

    def run(self, scheduled_for: datetime, now: datetime | None = None) -> RunReport:
        """One timer occurrence: finalize closed hours and days, refresh the open hour's provisional rollup."""
        report = RunReport()
        last_closed = hour_start(utc(scheduled_for) - self._grace) - HOUR
        previous = self._last_final_hour()
        pending = self._pending(previous, last_closed)
        for hour in pending:
            self.finalize_hour(hour, scheduled_for, report)
        for hour in [*([previous] if previous is not None else []), *pending]:
            if hour.hour == 23:  # the day's last hour is final: the day is closed
                self.finalize_day(day_key(hour), scheduled_for, report)
        open_hour = hour_start(now or datetime.now(UTC))
        for hour in list(hours(last_closed + HOUR, open_hour))[-MAX_PROVISIONAL_HOURS:]:
            report.provisional.append(period_of(HOUR_KIND, hour_key(hour)))
            report.provisional_writes += self.refresh_provisional(hour)
        return report

    def finalize_hour(self, hour: datetime, scheduled_for: datetime, report: RunReport | None = None) -> bool:
        key = hour_key(hour)
        period = period_of(HOUR_KIND, key)
        if self._is_final(period):
            _note(report, period, finalized=False)
            return False
        records = self._records(key)
        return self._finalize(period, HOUR_KIND, key, totals_by_key(records), scheduled_for, report)

    def finalize_day(self, day: str, scheduled_for: datetime, report: RunReport | None = None) -> bool:
        period = period_of(DAY_KIND, day)
        if self._is_final(period):
            _note(report, period, finalized=False)
            return False
        hourly = self._rollups.query(
            "SELECT * FROM c WHERE c.type = 'rollup' AND c.kind = @kind AND c.day = @day AND c.provisional = false",
            {"@kind": HOUR_KIND, "@day": day})
        return self._finalize(period, DAY_KIND, day, totals_by_key(hourly), scheduled_for, report)

    def refresh_provisional(self, hour: datetime) -> int:
        """Recompute the open hour's rollups (unless it is already final); returns the documents written."""
        key = hour_key(hour)
        period = period_of(HOUR_KIND, key)
        if self._is_final(period):
            return 0
        return self._sync(period, HOUR_KIND, key, totals_by_key(self._records(key)), provisional=True)

    # --- steps ----------------------------------------------------------------------------------------------------

    def _finalize(self, period: str, kind: str, key: str, groups: dict[tuple[str, str], Totals],
                  scheduled_for: datetime, report: RunReport | None) -> bool:
        self._sync(period, kind, key, groups, provisional=False)
        total = sum(groups.values(), Totals())
        marker = {"id": marker_id(period), "period": period, "type": "marker", "kind": kind, "day": key[:10],
                  **({"hour": key} if kind == HOUR_KIND else {}), **total.as_dict(), "groups": len(groups),
                  "scheduled_for": iso(scheduled_for), "rolled_at": iso(datetime.now(UTC))}
        if self._rollups.create(marker, partition_key=period) is None:
            _note(report, period, finalized=False)
            return False
        emit(COST_AGGREGATED, {cattr.PERIOD: period, cattr.PERIOD_KIND: kind, attr.ITEM_COUNT: total.calls,
                               cattr.COST_NUSD: total.cost_nusd, attr.GEN_AI_INPUT_TOKENS: total.prompt_tokens,
                               attr.GEN_AI_OUTPUT_TOKENS: total.completion_tokens,
                               attr.SCHEDULED_FOR: iso(scheduled_for)})
        _note(report, period, finalized=True)
        return True

    def _sync(self, period: str, kind: str, key: str, groups: dict[tuple[str, str], Totals],
              *, provisional: bool) -> int:
        """Make the period's rollup documents equal ``groups``; write only what differs. Returns the writes."""
        wanted = {rollup_id(period, model, feature): _rollup_doc(period, kind, key, model, feature, totals,
                                                                 provisional)
                  for (model, feature), totals in groups.items()}
        existing = {doc["id"]: doc for doc in self._rollups.query(
            "SELECT * FROM c WHERE c.period = @period AND c.type = 'rollup'", {"@period": period},
            partition_key=period)}
        writes = 0
        for doc_id, doc in wanted.items():
            if _content(existing.get(doc_id)) != doc:
                self._rollups.upsert(doc, partition_key=period)
                writes += 1
        for doc_id in existing.keys() - wanted.keys():  # only possible after records were removed by hand
            self._rollups.delete(doc_id, partition_key=period)
            writes += 1
        return writes

    def _pending(self, previous: datetime | None, last_closed: datetime) -> list[datetime]:
        if previous is not None:
            start = previous + HOUR
        else:
            first = self._usage.query("SELECT TOP 1 VALUE c.hour FROM c ORDER BY c.hour ASC")
            if not first:
                return []
            start = parse_hour(str(first[0]))
        return list(hours(start, last_closed))[: self._max_hours]

    def _last_final_hour(self) -> datetime | None:
        found = self._rollups.query(
            "SELECT TOP 1 VALUE c.hour FROM c WHERE c.type = 'marker' AND c.kind = @kind ORDER BY c.hour DESC",
            {"@kind": HOUR_KIND})
        return parse_hour(str(found[0])) if found else None

    def _records(self, hour: str) -> list[dict[str, Any]]:
        return self._usage.query(f"SELECT {_RECORD_FIELDS} FROM c WHERE c.hour = @hour", {"@hour": hour})

    def _is_final(self, period: str) -> bool:
        return self._rollups.read(marker_id(period), partition_key=period) is not None


def _rollup_doc(period: str, kind: str, key: str, model: str, feature: str, totals: Totals,
                provisional: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": rollup_id(period, model, feature), "period": period, "type": "rollup",
                           "kind": kind, "day": key[:10], "model": model, "feature": feature,
                           "provisional": provisional, **totals.as_dict()}
    if kind == HOUR_KIND:
        doc["hour"] = key
    return doc


def _content(doc: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if doc is None else {k: v for k, v in doc.items() if not k.startswith("_")}


def _note(report: RunReport | None, period: str, *, finalized: bool) -> None:
    if report is not None:
        (report.finalized if finalized else report.already_final).append(period)
