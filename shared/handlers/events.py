"""Events the function wrappers emit."""

from shared.telemetry import attributes as attr
from shared.telemetry.events import Sampling, define

REQUEST_REJECTED = define(
    "Http.Request.Rejected",
    "An HTTP request was refused with a 4xx error envelope (bad JSON, failed validation, unknown entity…).",
    [attr.ERROR_CODE, attr.HTTP_STATUS_CODE, attr.HTTP_ROUTE],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
INVOCATION_FAILED = define(
    "Function.Invocation.Failed",
    "A function failed unexpectedly (HTTP 500, or a queue message left for the host to retry).",
    [attr.ERROR_CODE, attr.ERROR_KIND, attr.EVENT_TYPE, attr.DEQUEUE_COUNT],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
CORRELATION_REPLACED = define(
    "Correlation.Id.Replaced",
    "A client sent an invalid x-correlation-id; a fresh one was used and the original kept, escaped, here.",
    [attr.CORRELATION_ID_REJECTED],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
MESSAGE_DEAD_LETTERED = define(
    "Queue.Message.DeadLettered",
    "A message that can never succeed was moved to its poison queue once, with the reason (not retried).",
    [attr.MESSAGING_DESTINATION, attr.DEAD_LETTER_REASON, attr.DEQUEUE_COUNT, attr.EVENT_TYPE, attr.EVENT_ID],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
