"""The timer function wrapper: each run knows the scheduled occurrence it belongs to, so handlers can make runs
idempotent per occurrence (a timer occurrence can fire twice: field case 10). Timer traces are always kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from croniter import croniter
from opentelemetry.trace import SpanKind

from shared import correlation, runtime, settings
from shared.errors import AppError
from shared.handlers.common import host_context, record_exception, shaped
from shared.handlers.events import INVOCATION_FAILED
from shared.runtime import Services
from shared.telemetry import Outcome, emit, flush, timed
from shared.telemetry import attributes as attr
from shared.telemetry.context import bound

# Two seconds of slack: a run that starts a moment before its occurrence (clock skew) still belongs to it.
_SLACK_SECONDS = 2


@dataclass(frozen=True)
class TimerCall:
    scheduled_for: datetime
    past_due: bool
    services: Services


Handler = Callable[[TimerCall], None]


def scheduled_occurrence(expression: str, now: datetime) -> datetime:
    """The latest occurrence of a six-field NCRONTAB schedule at or before ``now`` (UTC)."""
    probe = now.astimezone(UTC).replace(microsecond=0)
    itr = croniter(expression, probe.timestamp() + _SLACK_SECONDS + 1, second_at_beginning=True)
    return datetime.fromtimestamp(itr.get_prev(float), UTC)


def timer_function(operation: str, *, schedule_setting: str) -> Callable[[Handler], Callable[..., Any]]:
    """Wrap ``handler(call)`` as an Azure timer function ``(timer, context) -> None``."""

    def decorate(handler: Handler) -> Callable[..., Any]:
        def function(timer: func.TimerRequest, context: func.Context) -> None:
            _invoke(handler, operation, schedule_setting, timer, context)

        return shaped(function, handler)

    return decorate


def _invoke(handler: Handler, operation: str, schedule_setting: str, timer: func.TimerRequest,
            context: func.Context | None) -> None:
    occurrence = scheduled_occurrence(settings.schedule(schedule_setting), datetime.now(UTC))
    try:
        _run(handler, operation, occurrence, timer, context)
    finally:
        flush()


def _run(handler: Handler, operation: str, occurrence: datetime, timer: func.TimerRequest,
         context: func.Context | None) -> None:
    with bound(correlation.new_id(), operation), timed(
        operation, kind=SpanKind.SERVER, context=host_context(context),
        attributes={attr.OPERATION: operation, attr.SCHEDULED_FOR: occurrence.isoformat()},
    ) as timing:
        try:
            handler(TimerCall(occurrence, bool(getattr(timer, "past_due", False)), runtime.services()))
        except Exception as exc:
            code = exc.error.code if isinstance(exc, AppError) else "internal_error"
            if not isinstance(exc, AppError):
                record_exception(exc, operation)
            timing.outcome = Outcome.FAILED
            emit(INVOCATION_FAILED, {attr.ERROR_CODE: code})
            raise
