"""The AI cost functions: estimate before a generation, report its usage after, roll costs up, show the report.

    POST /api/ai/estimate      count, price, ask the budget: 200 with a generation id, or 429 budget_exceeded
    POST /api/ai/completions   accept the provider-reported usage: 202, queued as ``ai.generation.completed``
    queue ai-generation-completed   price it, store one record per generation, settle the budget
    timer COST_ROLLUP_SCHEDULE      exactly-once hourly and daily rollups, provisional numbers for the open hour
    GET  /api/ai/costs?hours=N      rollups per model and hour, and every feature's budget state

Importing this module loads no tokenizer (encodings load on the first estimate), and none of the pricing, budget,
usage and rollup logic either: each function imports what it uses on its first invocation, not when the host indexes
the app, so a cold start woken by game traffic never pays for it. The request schemas (which the decorators need) and
the events are imported here, so validation and the event registry are complete at indexing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import azure.functions as func

from cost import events, schemas  # noqa: F401  - events: declares the cost events when the app is indexed
from shared.envelope import EventType, parse_time
from shared.errors import AppError, ErrorCode
from shared.handlers import HttpCall, QueueCall, Reply, TimerCall, http_function, queue_function, timer_function
from shared.handlers.queue import Handled
from shared.operations import Operation
from shared.runtime import Services
from shared.settings import COST_ROLLUP_SCHEDULE, STORAGE_CONNECTION

if TYPE_CHECKING:
    from cost.budget import BudgetLedger

bp = func.Blueprint()
MAX_HOURS_DIGITS = 4
"""``hours`` longer than this is refused before ``int()``, which raises past Python's digit limit."""


def _ledger(services: Services) -> BudgetLedger:
    from cost.budget import BudgetLedger
    from cost.budget_config import load_budgets
    from cost.containers import BUDGETS

    return BudgetLedger(services.cosmos.container(BUDGETS), load_budgets())


@bp.route(route="ai/estimate", methods=["POST"])
@http_function(Operation.AI_ESTIMATE, route="ai/estimate", body=schemas.ESTIMATE_REQUEST)
def ai_estimate(call: HttpCall) -> Reply:
    from cost import estimate
    from cost.money import format_usd
    from cost.periods import HOUR, hour_start
    from cost.prices import load_prices
    from cost.tokens import default_counter

    messages = schemas.chat_messages(call.body["messages"])
    now = datetime.now(UTC)
    result = estimate.estimate(_ledger(call.services), default_counter(), load_prices(),
                               feature=call.body["feature"], model=call.body["model"], messages=messages,
                               max_output_tokens=call.body["max_output_tokens"], now=now)
    admission = result.admission
    if not admission.admitted:
        left = format_usd(max(0, admission.cap_nusd - admission.used_nusd))
        resets = (hour_start(now) + HOUR).strftime("%H:%M")
        raise AppError(ErrorCode.BUDGET_EXCEEDED,
                       f"refused: the estimated cost ({format_usd(admission.estimate_nusd)} USD) exceeds what is left "
                       f"of this feature's hourly AI budget ({left} of {format_usd(admission.cap_nusd)} USD); the "
                       f"budget resets at {resets} UTC", field="feature")
    return Reply(200, result.body())


@bp.route(route="ai/completions", methods=["POST"])
@http_function(Operation.AI_COMPLETE, route="ai/completions", body=schemas.COMPLETION)
def ai_complete(call: HttpCall) -> Reply:
    from cost.usage import Completion

    completion = Completion.from_payload(call.body)
    call.services.producer.send(EventType.AI_GENERATION_COMPLETED, completion.payload(),
                                event_id=completion.generation_id)
    return Reply(202, {"generation_id": completion.generation_id, "accepted": True})


@bp.queue_trigger(arg_name="msg", queue_name=EventType.AI_GENERATION_COMPLETED.queue, connection=STORAGE_CONNECTION)
@queue_function(Operation.ON_AI_GENERATION_COMPLETED, EventType.AI_GENERATION_COMPLETED, payload=schemas.COMPLETION)
def on_ai_generation_completed(call: QueueCall) -> Handled:
    from cost.containers import USAGE
    from cost.prices import NoPriceInForce, load_prices
    from cost.usage import Completion, UsageRecorder

    recorder = UsageRecorder(call.services.cosmos.container(USAGE), _ledger(call.services), load_prices())
    try:
        recorded = recorder.record(Completion.from_payload(call.payload),
                                   reported_at=parse_time(call.envelope.occurred_at))
    except NoPriceInForce:
        raise AppError(ErrorCode.VALIDATION_FAILED, "no price is in force at the time this usage occurred",
                       field="occurred_at") from None
    return Handled(duplicate=recorded.duplicate)


@bp.timer_trigger(arg_name="timer", schedule=f"%{COST_ROLLUP_SCHEDULE}%", run_on_startup=False, use_monitor=False)
@timer_function(Operation.COST_ROLLUP, schedule_setting=COST_ROLLUP_SCHEDULE)
def cost_rollup(call: TimerCall) -> None:
    from cost.containers import ROLLUPS, USAGE
    from cost.rollup import Rollup

    cosmos = call.services.cosmos
    Rollup(cosmos.container(USAGE), cosmos.container(ROLLUPS)).run(call.scheduled_for)


@bp.route(route="ai/costs", methods=["GET"])
@http_function(Operation.AI_COST_REPORT, route="ai/costs")
def ai_costs(call: HttpCall) -> Reply:
    from cost import report
    from cost.containers import ROLLUPS

    hours = _hours(call.query.get("hours"))
    body = report.cost_report(call.services.cosmos.container(ROLLUPS), _ledger(call.services), hours=hours,
                              now=datetime.now(UTC))
    return Reply(200, body)


def _hours(raw: str | None) -> int:
    from cost import report

    if raw is None or raw == "":
        return report.DEFAULT_HOURS
    # isascii and the length first: "²" passes isdigit() and 5,000 digits pass it too, and int() raises on both
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_HOURS_DIGITS) or not 1 <= int(raw) <= report.MAX_HOURS:
        raise AppError(ErrorCode.VALIDATION_FAILED, f"query parameter 'hours' must be an integer from 1 to "
                       f"{report.MAX_HOURS}", field="hours")
    return int(raw)
