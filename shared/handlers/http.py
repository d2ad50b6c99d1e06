"""The HTTP function wrapper: every response is JSON, carries the correlation id, and no error is a bare 500."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from opentelemetry.trace import SpanKind

from shared import correlation, jsontext, runtime
from shared.errors import AppError, ErrorCode, ErrorKind, internal_error
from shared.handlers.common import extract, host_context, link_to, record_exception, shaped
from shared.handlers.events import CORRELATION_REPLACED, INVOCATION_FAILED, REQUEST_REJECTED
from shared.runtime import Services
from shared.schema import Schema
from shared.telemetry import Outcome, Timing, emit, timed
from shared.telemetry import attributes as attr
from shared.telemetry.context import bound
from shared.telemetry.sampling import without_decision

MAX_BODY_BYTES = 32 * 1024
JSON_TYPE = "application/json"
TRACEPARENT = "traceparent"


@dataclass(frozen=True)
class HttpCall:
    """What a handler sees: the validated body, route parameters and the shared services."""

    body: dict[str, Any]
    route: Mapping[str, str]
    query: Mapping[str, str]
    correlation_id: str
    services: Services


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[HttpCall], Reply]


def http_function(operation: str, *, route: str, body: Schema | None = None) -> Callable[[Handler], Callable[..., Any]]:
    """Wrap ``handler(call) -> Reply`` as an Azure HTTP function ``(req, context) -> HttpResponse``."""

    def decorate(handler: Handler) -> Callable[..., Any]:
        def function(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
            return _invoke(handler, operation, route, body, req, context)

        return shaped(function, handler)

    return decorate


def _invoke(handler: Handler, operation: str, route: str, schema: Schema | None,
            req: func.HttpRequest, context: func.Context | None) -> func.HttpResponse:
    accepted = correlation.accept(req.headers.get(correlation.HEADER))
    host = host_context(context)
    parent = extract(req.headers.get(TRACEPARENT), without_decision(req.headers.get("tracestate"))) or host
    # No http.route on the span: the exporter would rename the row "<METHOD> <route>"; the operation names it.
    with bound(accepted.correlation_id, operation), timed(
        operation, kind=SpanKind.SERVER, context=parent, links=link_to(host) if parent is not host else [],
        attributes={attr.OPERATION: operation, attr.HTTP_METHOD: (req.method or "GET").upper()},
    ) as timing:
        if accepted.rejected is not None:
            emit(CORRELATION_REPLACED, {attr.CORRELATION_ID_REJECTED: accepted.rejected})
        status, payload = _run(handler, operation, route, schema, req, accepted.correlation_id, timing)
        timing.set(attr.HTTP_STATUS_CODE, status)
        return _respond(status, payload, accepted.correlation_id)


def _run(handler: Handler, operation: str, route: str, schema: Schema | None, req: func.HttpRequest,
         cid: str, timing: Timing) -> tuple[int, dict[str, Any]]:
    try:
        call = HttpCall(_body(req, schema), dict(req.route_params or {}), dict(req.params or {}), cid,
                        runtime.services())
        reply = handler(call)
        return reply.status, reply.body
    except AppError as error:
        return _refused(error, route, cid, timing)
    except Exception as exc:  # the one place an unexpected error becomes a 500 envelope
        record_exception(exc, operation)
        internal = internal_error()
        emit(INVOCATION_FAILED, {attr.ERROR_CODE: internal.error.code, attr.ERROR_KIND: internal.error.kind})
        timing.outcome = Outcome.FAILED
        return internal.error.status, internal.envelope(cid)


def _refused(error: AppError, route: str, cid: str, timing: Timing) -> tuple[int, dict[str, Any]]:
    timing.set(attr.ERROR_CODE, error.error.code)
    if error.error.kind in (ErrorKind.VALIDATION, ErrorKind.PERMANENT):
        timing.outcome = Outcome.REJECTED
        emit(REQUEST_REJECTED, {attr.ERROR_CODE: error.error.code, attr.HTTP_STATUS_CODE: error.error.status,
                                attr.HTTP_ROUTE: route})
    else:
        timing.outcome = Outcome.FAILED
        emit(INVOCATION_FAILED, {attr.ERROR_CODE: error.error.code, attr.ERROR_KIND: error.error.kind})
    return error.error.status, error.envelope(cid)


def _body(req: func.HttpRequest, schema: Schema | None) -> dict[str, Any]:
    if schema is None:
        return {}
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"body must be at most {MAX_BODY_BYTES} bytes", field="body")
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != JSON_TYPE:
        raise AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "content-type must be application/json",
                       field="content-type")
    try:
        data = jsontext.loads(raw)
    except jsontext.UnreadableJson as error:
        raise AppError(ErrorCode.INVALID_JSON, f"body {error}", field="body") from None
    return schema.parse(data)


def _respond(status: int, payload: dict[str, Any], cid: str) -> func.HttpResponse:
    body = dict(payload)
    body.setdefault("correlation_id", cid)
    return func.HttpResponse(
        # ASCII escapes: text already stored (an out-of-band edit) may hold what UTF-8 cannot encode, and encoding
        # happens after this wrapper's try, where it would be a bare 500
        json.dumps(body), status_code=status, mimetype=JSON_TYPE,
        headers={correlation.HEADER: cid},
    )
