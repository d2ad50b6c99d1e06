"""The integrity functions: the recompute timer and the report endpoint. ``function_app.py`` registers ``bp``.

The recompute logic (canonical JSON, signing, baselines, findings) is imported by the functions that use it, on
their first invocation, not when the host indexes the app: a cold start woken by game traffic never needs it.
Events and attributes are imported here, so the registry is complete at indexing either way.
"""

from __future__ import annotations

import azure.functions as func

from integrity import events  # noqa: F401  - declares the integrity events and attributes when the app is indexed
from shared.handlers import HttpCall, Reply, TimerCall, http_function, timer_function
from shared.operations import Operation
from shared.settings import INTEGRITY_SCHEDULE

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule=f"%{INTEGRITY_SCHEDULE}%", run_on_startup=False, use_monitor=False)
@timer_function(Operation.INTEGRITY_CHECK, schedule_setting=INTEGRITY_SCHEDULE)
def integrity_check(call: TimerCall) -> None:
    """Recompute every location's hash against the signed baseline; exactly once per scheduled occurrence."""
    from integrity.check import run_check

    run_check(call.services.cosmos, call.scheduled_for)


@bp.route(route="integrity/report", methods=["GET"])
@http_function(Operation.INTEGRITY_REPORT, route="integrity/report")
def integrity_report(call: HttpCall) -> Reply:
    """The latest completed integrity run and the drift it found."""
    from integrity.report import latest_report

    return Reply(200, latest_report(call.services.cosmos))
