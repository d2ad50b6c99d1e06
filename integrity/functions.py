"""The integrity functions: the recompute timer and the report endpoint. ``function_app.py`` registers ``bp``."""

from __future__ import annotations

import azure.functions as func

from integrity.check import run_check
from integrity.report import latest_report
from shared.handlers import HttpCall, Reply, TimerCall, http_function, timer_function
from shared.operations import Operation
from shared.settings import INTEGRITY_SCHEDULE

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule=f"%{INTEGRITY_SCHEDULE}%", run_on_startup=False, use_monitor=False)
@timer_function(Operation.INTEGRITY_CHECK, schedule_setting=INTEGRITY_SCHEDULE)
def integrity_check(call: TimerCall) -> None:
    """Recompute every location's hash against the signed baseline; exactly once per scheduled occurrence."""
    run_check(call.services.cosmos, call.scheduled_for)


@bp.route(route="integrity/report", methods=["GET"])
@http_function(Operation.INTEGRITY_REPORT, route="integrity/report")
def integrity_report(call: HttpCall) -> Reply:
    """The latest completed integrity run and the drift it found."""
    return Reply(200, latest_report(call.services.cosmos))
