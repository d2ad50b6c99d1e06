"""Test helpers shipped next to the telemetry API (as ``structlog.testing`` ships ``capture_logs``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shared.telemetry.api import add_listener, remove_listener

Captured = list[tuple[str, dict[str, object]]]


@contextmanager
def captured_events() -> Iterator[Captured]:
    """Every event that passes the pipeline (validated, enriched, sampled) while the block runs, as
    ``(name, dimensions)``, in emission order. Works with or without exporters configured."""
    seen: Captured = []

    def listener(name: str, dimensions: dict[str, object]) -> None:
        seen.append((name, dimensions))

    add_listener(listener)
    try:
        yield seen
    finally:
        remove_listener(listener)
