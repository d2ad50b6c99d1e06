"""Telemetry API for handlers: emit declared events, time operations, flush. Set-up lives in ``setup``.

Handlers import from here only; ``function_app.py`` calls :func:`shared.telemetry.setup.configure` once.
"""

from shared.telemetry.api import emit, flush, meter, tracer
from shared.telemetry.timing import Outcome, Timing, timed

__all__ = ["emit", "flush", "meter", "tracer", "timed", "Timing", "Outcome"]
