"""The operator's report of a main-job run, computed from the stored telemetry rows (what the dashboards see) and
checked against what the job itself sent."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from local.session import JOB_CORRELATION_PREFIX, Tally
from local.telemetry_rows import Row, TelemetryRows, dim, weighted_count
from shared.operations import ALWAYS_KEPT

HTTP_PREFIXES = ("Players.", "Locations.", "World.", "Ai.", "Integrity.")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, title: str, lines: list[str]) -> None:
        self.sections.append((title, lines))

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def render(self) -> str:
        out: list[str] = []
        for title, lines in self.sections:
            out += ["", title, "-" * len(title), *lines]
        out += ["", "Checks", "------"]
        out += [f"  [{'ok' if c.ok else 'FAILED'}] {c.name}: {c.detail}" for c in self.checks]
        return "\n".join(out) + "\n"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def operations_table(rows: TelemetryRows) -> tuple[list[str], dict[str, dict[str, Any]]]:
    by_op: dict[str, list[Row]] = defaultdict(list)
    for row in rows.table("requests"):
        by_op[row["name"]].append(row)
    ru = ru_by_operation(rows)
    header = f"  {'operation':<28}{'count':>7}{'failed':>8}{'rejected':>9}{'p50 ms':>9}{'p95 ms':>9}{'RU/op':>8}"
    lines = ["  (RU from each call's x-ms-request-charge; the local Cosmos server charges 1 RU per call, Azure the real"
             " cost)", header]
    stats: dict[str, dict[str, Any]] = {}
    for name in sorted(by_op):
        group = by_op[name]
        count = weighted_count(group)
        failed = weighted_count(r for r in group if dim(r, "game.outcome") == "failed")
        rejected = weighted_count(r for r in group if dim(r, "game.outcome") == "rejected")
        durations = sorted(float(r.get("duration") or 0) for r in group)
        per_op = ru.get(name, 0.0) / count if count else 0.0
        stats[name] = {"count": count, "failed": failed, "rejected": rejected, "p50_ms": percentile(durations, 50),
                       "p95_ms": percentile(durations, 95), "ru_per_op": per_op, "ru_total": ru.get(name, 0.0)}
        lines.append(f"  {name:<28}{count:>7}{failed:>8}{rejected:>9}{stats[name]['p50_ms']:>9.1f}"
                     f"{stats[name]['p95_ms']:>9.1f}{per_op:>8.2f}")
    return lines, stats


def ru_by_operation(rows: TelemetryRows) -> dict[str, float]:
    totals: defaultdict[str, float] = defaultdict(float)
    for dep in rows.table("dependencies", lambda r: str(r.get("type", "")).lower() == "cosmosdb"):
        charge = dim(dep, "azure.cosmosdb.operation.request_charge")
        operation = dim(dep, "game.operation")
        if operation and charge is not None:
            totals[operation] += float(charge) * int(dep.get("itemCount") or 1)
    return dict(totals)


def event_counts(rows: TelemetryRows, prefix: str, key: str | None = None) -> Counter[str]:
    counts: Counter[str] = Counter()
    for row in rows.table("customEvents", lambda r: str(r.get("name", "")).startswith(prefix)):
        value = dim(row, key) if key else None
        label = row["name"] if value is None else f"{row['name']} [{value}]"
        counts[label] += int(row.get("itemCount") or 1)
    return counts


def sampling_tolerance(true_count: int, sampling: float) -> float:
    """How far ``sum(itemCount)`` may stray from a true count when each trace is kept with probability p: four
    standard deviations of the estimate (binomial: sqrt(n (1 - p) / p)) plus one kept item's weight. Exact at 100 %."""
    if sampling >= 100:
        return 0.0
    p = sampling / 100.0
    return 4.0 * math.sqrt(true_count * (1.0 - p) / p) + 1.0 / p


def counts_agree(true_count: int, seen: int, sampling: float) -> bool:
    return abs(seen - true_count) <= sampling_tolerance(true_count, sampling)


def tolerance_note(true_count: int, sampling: float) -> str:
    tolerance = sampling_tolerance(true_count, sampling)
    return f" (sampled: within ±{tolerance:.0f})" if tolerance else ""


def consistency(report: Report, rows: TelemetryRows, tally: Tally, sampling: float) -> None:
    requests = rows.table("requests")
    by_trace = {r["operation_Id"]: r for r in requests if r["name"].startswith(HTTP_PREFIXES)}
    missing = [t for t in tally.traces if t not in by_trace]
    mismatched = [t for t, op in tally.traces.items() if t in by_trace and by_trace[t]["name"] != op]
    if sampling >= 100:
        report.check("every HTTP request the job sent has its requests row (same operation id)", not missing,
                     f"{len(tally.traces) - len(missing)}/{len(tally.traces)} found")
    report.check("operation names of the rows match what the job called", not mismatched,
                 f"{len(mismatched)} mismatched")
    strays = [r for r in requests if str(dim(r, "game.correlation_id") or "").startswith(JOB_CORRELATION_PREFIX)
              and r["operation_Id"] not in tally.traces]
    report.check("no requests row from another run (the job's correlation ids, trace ids it never sent)",
                 not strays, f"{len(strays)} stray rows")
    for operation, sent in sorted(tally.sent.items()):
        seen = weighted_count(r for r in requests if r["name"] == operation and r["operation_Id"] in tally.traces)
        rate = 100.0 if operation in ALWAYS_KEPT else sampling
        report.check(f"{operation}: sent vs sum(itemCount)", counts_agree(sent, seen, rate),
                     f"sent {sent}, rows say {seen}" + tolerance_note(sent, rate))
