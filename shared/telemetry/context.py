"""Per-invocation telemetry context in ``contextvars``: the operation being served.

The correlation id lives in :mod:`shared.correlation`; this module adds the operation name so that every span and
event of an invocation carries both without being passed around.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from shared import correlation

_operation: contextvars.ContextVar[str | None] = contextvars.ContextVar("operation", default=None)


def current_operation() -> str | None:
    return _operation.get()


@contextmanager
def bound(correlation_id: str, operation: str) -> Iterator[None]:
    """Bind the correlation id and operation for the duration of an invocation."""
    cid_token = correlation.bind(correlation_id)
    op_token = _operation.set(operation)
    try:
        yield
    finally:
        _operation.reset(op_token)
        correlation.unbind(cid_token)
