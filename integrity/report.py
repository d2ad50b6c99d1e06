"""The integrity report: the latest completed run's summary and its findings (the drift still open at that run).

"Open" means found by the latest completed run: a location fixed since then (or accepted into a new baseline)
disappears from the report at the next run, while the older findings stay stored as history. A newer run that has
not completed (in progress, or crashed) is shown separately so a stuck run is visible.
"""

from __future__ import annotations

from typing import Any

from integrity.containers import RUNS
from integrity.findings import findings_of
from integrity.runs import RunStatus
from shared.cosmos import CosmosGateway

_LATEST_COMPLETED = "SELECT TOP 1 * FROM c WHERE c.status = @status ORDER BY c.scheduled_for DESC"
_LATEST_ANY = "SELECT TOP 1 * FROM c ORDER BY c.scheduled_for DESC"
_RUN_FIELDS = ("id", "scheduled_for", "status", "started_at", "completed_at", "result", "baseline_version",
               "baseline_problem", "counts", "checked_count", "finding_count", "duration_ms")
_FINDING_FIELDS = ("id", "location_id", "verdict", "expected_hash", "actual_hash", "baseline_version", "detected_at")


def latest_report(cosmos: CosmosGateway) -> dict[str, Any]:
    runs = cosmos.container(RUNS)
    completed = _first(runs.query(_LATEST_COMPLETED, {"@status": RunStatus.COMPLETED.value}))
    newest = _first(runs.query(_LATEST_ANY))
    findings = findings_of(cosmos, completed["id"]) if completed else []
    return {
        "run": _pick(completed, _RUN_FIELDS),
        "findings": [_pick(f, _FINDING_FIELDS) for f in findings],
        "unfinished_run": _pick(newest, _RUN_FIELDS) if newest and newest["status"] != RunStatus.COMPLETED.value
        else None,
    }


def _first(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return rows[0] if rows else None


def _pick(document: dict[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any] | None:
    if document is None:
        return None
    return {name: document.get(name) for name in fields if name in document}
