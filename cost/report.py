"""The AI cost report (``GET /api/ai/costs?hours=N``): hourly rollups per model and feature (final and
provisional), totals per model, and the budget state of every feature. Amounts are integer nano-USD with an exact
USD string beside them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from cost.budget import BudgetLedger, window_of
from cost.money import format_usd
from cost.periods import HOUR, hour_key, hour_start, iso
from cost.rollup import HOUR_KIND, Totals
from shared.cosmos import InstrumentedContainer

MAX_HOURS: Final = 168
DEFAULT_HOURS: Final = 24


def cost_report(rollups: InstrumentedContainer, ledger: BudgetLedger, *, hours: int, now: datetime) -> dict[str, Any]:
    since = hour_key(hour_start(now) - (hours - 1) * HOUR)
    rows = sorted(rollups.query(
        "SELECT c.hour, c.model, c.feature, c.provisional, c.calls, c.prompt_tokens, c.cached_tokens,"
        " c.completion_tokens, c.reasoning_tokens, c.cost_nusd FROM c"
        " WHERE c.type = 'rollup' AND c.kind = @kind AND c.hour >= @since",
        {"@kind": HOUR_KIND, "@since": since}), key=lambda r: (r["hour"], r["model"], r["feature"]))
    by_model: dict[str, Totals] = {}
    for row in rows:
        by_model[row["model"]] = by_model.get(row["model"], Totals()) + Totals.of(row)
    total = sum(by_model.values(), Totals())
    return {
        "hours": hours, "since": since, "as_of": iso(now),
        "rollups": [_row(row) for row in rows],
        "by_model": [{"model": model, **_amounts(totals)} for model, totals in sorted(by_model.items())],
        "total": _amounts(total),
        "budgets": budget_states(ledger, since=since, now=now),
    }


def budget_states(ledger: BudgetLedger, *, since: str, now: datetime) -> list[dict[str, Any]]:
    """Every budget window with activity since ``since``, plus the current hour of each configured feature."""
    current = window_of(now)
    docs = {(doc["feature"], doc["hour"]): doc for doc in ledger.windows_since(since)}
    for feature in ledger.config.caps_nusd:
        docs.setdefault((feature, current), {"feature": feature, "hour": current})
    return [_budget(ledger, doc) for _, doc in sorted(docs.items(), key=lambda item: (item[0][1], item[0][0]))]


def _budget(ledger: BudgetLedger, doc: Mapping[str, Any]) -> dict[str, Any]:
    feature = doc["feature"]
    cap = doc.get("cap_nusd") or ledger.config.cap_for(feature)
    spent, reserved = doc.get("spent_nusd", 0), doc.get("reserved_nusd", 0)
    used = spent + reserved
    state = "blocked" if used >= cap else "warn" if used >= (doc.get("soft_nusd") or ledger.config.soft_for(feature)) \
        else "ok"
    return {"feature": feature, "hour": doc["hour"], "cap_nusd": cap, "spent_nusd": spent, "reserved_nusd": reserved,
            "remaining_nusd": max(0, cap - used), "used_percent": used * 100 // cap, "spent_usd": format_usd(spent),
            "cap_usd": format_usd(cap), "soft_alerted": bool(doc.get("soft_alerted", False)),
            "admitted": doc.get("admitted", 0), "state": state}


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"hour": row["hour"], "model": row["model"], "feature": row["feature"],
            "provisional": bool(row.get("provisional")), **_amounts(Totals.of(row))}


def _amounts(totals: Totals) -> dict[str, Any]:
    return {"calls": totals.calls, "input_tokens": totals.prompt_tokens, "cached_input_tokens": totals.cached_tokens,
            "output_tokens": totals.completion_tokens, "reasoning_tokens": totals.reasoning_tokens,
            "cost_nusd": totals.cost_nusd, "cost_usd": format_usd(totals.cost_nusd)}
