"""Read-side helpers over the local Application Insights rows (``<telemetry_dir>/<table>.jsonl``).

Shipped next to the ingestion endpoint so the main job's report and the tests ask the same questions the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from local.ingest import read_table

Row = dict[str, Any]
TABLES = ("requests", "dependencies", "customEvents", "customMetrics", "traces", "exceptions")


class TelemetryRows:
    def __init__(self, telemetry_dir: Path) -> None:
        self.dir = Path(telemetry_dir)

    def table(self, name: str, where: Callable[[Row], bool] | None = None) -> list[Row]:
        rows = read_table(self.dir, name)
        return [r for r in rows if where(r)] if where else rows

    def operation(self, operation_id: str) -> dict[str, list[Row]]:
        """Every row of one operation id, by table: the one-filter story of a request."""
        return {t: self.table(t, lambda r: r.get("operation_Id") == operation_id) for t in TABLES}

    def events(self, name: str, where: Callable[[Row], bool] | None = None) -> list[Row]:
        return self.table("customEvents", lambda r: r.get("name") == name and (where is None or where(r)))

    def wait(self, table: str, where: Callable[[Row], bool], count: int = 1, timeout: float = 15.0) -> list[Row]:
        """Rows matching ``where`` once there are at least ``count`` of them (exporters batch for ~1 s)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.table(table, where)
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)


def dim(row: Row, key: str) -> Any:
    return (row.get("customDimensions") or {}).get(key)


def weighted_count(rows: Iterable[Row]) -> int:
    """``sum(itemCount)``: the true number of items behind sampled rows."""
    return sum(int(r.get("itemCount") or 1) for r in rows)
