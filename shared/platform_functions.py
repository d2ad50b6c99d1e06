"""Functions of the platform itself (not of a game feature): the poison queue scan."""

from __future__ import annotations

import azure.functions as func

from shared import poison
from shared.handlers import TimerCall, timer_function
from shared.operations import Operation
from shared.settings import POISON_SCAN_SCHEDULE
from shared.telemetry import attributes as attr
from shared.telemetry import emit, meter
from shared.telemetry.events import Sampling, define

POISON_DETECTED = define(
    "Queue.Poison.Detected",
    "A poison queue holds messages (alert on any length above zero). One per non-empty poison queue per scan.",
    [attr.MESSAGING_DESTINATION, attr.ITEM_COUNT],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
POISON_MESSAGE_INSPECTED = define(
    "Queue.PoisonMessage.Inspected",
    "One message seen in a poison queue: its correlation id (when readable), event type and encoding (the reason a"
    " plain-JSON producer's messages could not be decoded).",
    [attr.MESSAGING_DESTINATION, attr.MESSAGING_MESSAGE_ID, attr.QUEUE_ENCODING, attr.EVENT_TYPE],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
POISON_LENGTH_METRIC = "game.queue.poison.length"
"""Gauge: messages in each poison queue at the last scan."""

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule=f"%{POISON_SCAN_SCHEDULE}%", run_on_startup=False, use_monitor=False)
@timer_function(Operation.POISON_SCAN, schedule_setting=POISON_SCAN_SCHEDULE)
def poison_scan(call: TimerCall) -> None:
    gauge = meter().create_gauge(POISON_LENGTH_METRIC, description="Messages in a poison queue")
    for found in poison.inspect_all(call.services.settings.storage_connection):
        gauge.set(found.length, {attr.MESSAGING_DESTINATION: found.queue})
        if not found.length:
            continue
        emit(POISON_DETECTED, {attr.MESSAGING_DESTINATION: found.queue, attr.ITEM_COUNT: found.length})
        for message in found.sample:
            emit(POISON_MESSAGE_INSPECTED, {
                attr.MESSAGING_DESTINATION: found.queue, attr.MESSAGING_MESSAGE_ID: message.message_id,
                attr.QUEUE_ENCODING: message.encoding,
                attr.EVENT_TYPE: message.event_type, attr.CORRELATION_ID: message.correlation_id,
            })
