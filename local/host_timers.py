"""Timer triggers: six-field NCRONTAB (or TimeSpan) schedules in UTC, as the Functions host runs them.

Each timer has its own thread and invocations of one timer never overlap; a failed run is
logged and the next occurrence still fires.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from azure.functions.timer import TimerRequest
from croniter import croniter

from local.host_invoke import Invoker, host_traceparent
from local.host_model import FunctionInfo, HostStartError, parse_timespan

log = logging.getLogger("local.host")

PAST_DUE_AFTER = timedelta(seconds=1)  # a run this late behind its occurrence is reported past due


class Schedule:
    """Next/previous occurrences of an NCRONTAB expression or a TimeSpan interval."""

    def __init__(self, expression: str, where: str) -> None:
        self.expression = expression
        self._interval: timedelta | None = None
        if ":" in expression and len(expression.split()) == 1:
            self._interval = timedelta(seconds=parse_timespan(expression))
            if self._interval <= timedelta(0):
                raise HostStartError(f"{where}: TimeSpan schedule must be positive")
        elif len(expression.split()) != 6 or not croniter.is_valid(expression, second_at_beginning=True):
            raise HostStartError(f"{where}: '{expression}' is not a six-field NCRONTAB expression")

    def next_after(self, moment: datetime) -> datetime:
        if self._interval is not None:
            return moment + self._interval
        return croniter(self.expression, moment, second_at_beginning=True).get_next(datetime)

    def prev_before(self, moment: datetime) -> datetime:
        if self._interval is not None:
            return moment - self._interval
        return croniter(self.expression, moment, second_at_beginning=True).get_prev(datetime)


def timer_request(schedule: Schedule, occurrence: datetime, now: datetime, past_due: bool) -> TimerRequest:
    """The TimerRequest the worker would build from the host's timer info JSON."""
    return TimerRequest(
        past_due=past_due,
        schedule_status={
            "Last": schedule.prev_before(occurrence).isoformat(),
            "Next": schedule.next_after(occurrence).isoformat(),
            "LastUpdated": now.isoformat(),
        },
        schedule={"AdjustForDST": True},
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


class TimerRunner:
    """One thread per timer: sleep until the next occurrence, run, repeat."""

    def __init__(self, info: FunctionInfo, invoker: Invoker, stopping: threading.Event) -> None:
        assert info.schedule is not None
        self.info = info
        self.schedule = Schedule(info.schedule, f"function '{info.name}'")
        self._invoker = invoker
        self._stopping = stopping
        self._thread = threading.Thread(target=self._run, name=f"local.host-timer-{info.name}")

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join()

    def fire(self, past_due: bool = False, occurrence: datetime | None = None) -> bool:
        """Invoke the function once now (also used by run_on_startup and the admin endpoint)."""
        now = utcnow()
        request = timer_request(self.schedule, occurrence or now, now, past_due)
        return self._invoker.invoke(self.info, request, host_traceparent()).ok

    def _run(self) -> None:
        if self.info.run_on_startup:
            self.fire()
        occurrence = self.schedule.next_after(utcnow())
        while not self._stopping.wait(max(0.0, (occurrence - utcnow()).total_seconds())):
            late = utcnow() - occurrence > PAST_DUE_AFTER
            self.fire(past_due=late, occurrence=occurrence)
            occurrence = self.schedule.next_after(max(utcnow(), occurrence))
