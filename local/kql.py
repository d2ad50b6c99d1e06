"""Run the KQL we ship (alerts, later dashboards) on the telemetry rows the app really produced.

The rows the local ingestion endpoint stored (``<telemetry_dir>/<table>.jsonl``) are loaded into DuckDB tables with
Application Insights' column names and types, and the query runs through ``duckdb-kql`` (KQL translated to DuckDB
SQL). Local tooling only: Azure runs the same text in Log Analytics.

Limits worth knowing (``../shared/docs/local-stack.md``): an alert rule applies its time window outside the query,
so the queries we ship carry none and run here over every stored row; ``percentile``/``dcount`` are exact here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql

from local.telemetry_rows import Row, TelemetryRows

_COMMON: dict[str, str] = {
    "timestamp": "TIMESTAMP", "itemType": "VARCHAR", "operation_Id": "VARCHAR", "operation_ParentId": "VARCHAR",
    "operation_Name": "VARCHAR", "cloud_RoleName": "VARCHAR", "cloud_RoleInstance": "VARCHAR", "user_Id": "VARCHAR",
    "sdkVersion": "VARCHAR", "itemCount": "BIGINT", "customDimensions": "JSON", "customMeasurements": "JSON",
}
SCHEMAS: dict[str, dict[str, str]] = {
    "requests": {**_COMMON, "id": "VARCHAR", "name": "VARCHAR", "url": "VARCHAR", "resultCode": "VARCHAR",
                 "duration": "DOUBLE", "success": "BOOLEAN", "source": "VARCHAR"},
    "dependencies": {**_COMMON, "id": "VARCHAR", "name": "VARCHAR", "target": "VARCHAR", "type": "VARCHAR",
                     "data": "VARCHAR", "resultCode": "VARCHAR", "duration": "DOUBLE", "success": "BOOLEAN"},
    "customEvents": {**_COMMON, "name": "VARCHAR"},
    "customMetrics": {**_COMMON, "name": "VARCHAR", "value": "DOUBLE", "valueCount": "BIGINT", "valueSum": "DOUBLE",
                      "valueMin": "DOUBLE", "valueMax": "DOUBLE", "valueStdDev": "DOUBLE"},
    "traces": {**_COMMON, "message": "VARCHAR", "severityLevel": "BIGINT"},
    "exceptions": {**_COMMON, "type": "VARCHAR", "outerMessage": "VARCHAR", "message": "VARCHAR",
                   "problemId": "VARCHAR", "severityLevel": "BIGINT", "details": "JSON"},
}
"""The Application Insights columns the ingestion endpoint writes, with the types Log Analytics gives them."""


def _value(column_type: str, value: Any) -> Any:
    if value is None:
        return None
    if column_type == "JSON":
        return json.dumps(value)
    if column_type == "TIMESTAMP":
        return str(value).rstrip("Z").replace("T", " ")  # stored UTC, the connection's time zone is UTC
    return value


def load(con: duckdb.DuckDBPyConnection, table: str, rows: Iterable[Row]) -> int:
    schema = SCHEMAS[table]
    columns = ", ".join(f'"{name}" {kind}' for name, kind in schema.items())
    con.execute(f'CREATE OR REPLACE TABLE "{table}" ({columns})')
    values = [tuple(_value(kind, row.get(name)) for name, kind in schema.items()) for row in rows]
    if values:
        placeholders = ", ".join("?" for _ in schema)
        con.executemany(f'INSERT INTO "{table}" VALUES ({placeholders})', values)
    return len(values)


def connect(rows: TelemetryRows, since: datetime | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (UTC) holding every Application Insights table, empty ones included.

    ``since`` plays the alert rule's time window: only rows stamped at or after it are loaded.
    """
    con = duckdb_kql.connect()
    for table in SCHEMAS:
        load(con, table, (r for r in rows.table(table) if since is None or _stamp(r) >= since))
    return con


def _stamp(row: Row) -> datetime:
    return datetime.fromisoformat(str(row["timestamp"]).replace("Z", "+00:00"))


def run(rows: TelemetryRows, query: str, since: datetime | None = None) -> list[dict[str, Any]]:
    """The query's result over the stored rows (those since ``since``), one dict per result row."""
    with connect(rows, since) as con:
        result = duckdb_kql.kql(con, query)
        names = [d[0] for d in result.description]
        return [dict(zip(names, values, strict=True)) for values in result.fetchall()]


def run_file(rows: TelemetryRows, path: Path, since: datetime | None = None) -> list[dict[str, Any]]:
    return run(rows, path.read_text(encoding="utf-8"), since)
