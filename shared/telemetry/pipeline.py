"""The event pipeline: an ordered list of small functions over an event dict, as in structlog.

Each processor takes the event and returns it (possibly changed) or ``None`` to drop it. The default order is
validate → enrich → pseudonymise → normalise → sample. :class:`PipelineConfig` holds what the processors need; it is
replaced once by ``configure()`` and read-only afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared import correlation
from shared.telemetry import attributes as attr
from shared.telemetry.events import EventSpec, Sampling
from shared.telemetry.pseudonym import pseudonymize
from shared.telemetry.sampling import SAMPLE_RATE_KEY, current_decision

Event = dict[str, Any]
"""``{"spec": EventSpec, "attributes": {key: value}, "violations": [..]}``."""
Processor = Callable[[Event], "Event | None"]

STANDARD_DIMENSIONS = frozenset({attr.CORRELATION_ID, attr.OPERATION})
"""Added to every event by enrichment; events need not declare them."""


class TelemetrySchemaError(ValueError):
    """Strict mode: an event was emitted with a dimension its declaration does not list."""


@dataclass(frozen=True)
class PipelineConfig:
    pseudonym_key: bytes = b"local-development-pseudonym-key"
    strict: bool = True
    on_violation: Callable[[str, str], None] = field(default=lambda event, key: None)
    on_drop: Callable[[str], None] = field(default=lambda event: None)


_config = PipelineConfig()


def set_config(config: PipelineConfig) -> None:
    global _config
    _config = config


def config() -> PipelineConfig:
    return _config


def validate(event: Event) -> Event:
    spec: EventSpec = event["spec"]
    for key in list(event["attributes"]):
        if key in spec.dimensions or key in STANDARD_DIMENSIONS:
            continue
        if _config.strict:
            raise TelemetrySchemaError(f"event {spec.name} has undeclared dimension {key!r}")
        del event["attributes"][key]
        _config.on_violation(spec.name, key)
    return event


def enrich(event: Event) -> Event:
    from shared.telemetry.context import current_operation  # local: context imports nothing from here

    attributes = event["attributes"]
    attributes.setdefault(attr.CORRELATION_ID, correlation.current())
    attributes.setdefault(attr.OPERATION, current_operation())
    return event


def pseudonymise(event: Event) -> Event:
    attributes = event["attributes"]
    for key, value in attributes.items():
        spec = attr.SPECS.get(key)
        if spec is not None and spec.pseudonymous and isinstance(value, str) and value:
            attributes[key] = pseudonymize(value, _config.pseudonym_key)
    return event


def normalise(event: Event) -> Event:
    """Drop empty values (keys are absent when empty), coerce enums to their value, bound string length."""
    cleaned: dict[str, Any] = {}
    for key, value in event["attributes"].items():
        value = getattr(value, "value", value)
        if value is None or value == "":
            continue
        spec = attr.SPECS.get(key)
        if isinstance(value, str) and spec is not None and len(value) > spec.max_length:
            value = value[: spec.max_length]
        cleaned[key] = value
    event["attributes"] = cleaned
    return event


def sample(event: Event) -> Event | None:
    spec: EventSpec = event["spec"]
    if spec.sampling is Sampling.ALWAYS:
        event["attributes"][SAMPLE_RATE_KEY] = 100.0
        return event
    decision = current_decision()
    if not decision.sampled:
        _config.on_drop(spec.name)
        return None
    event["attributes"][SAMPLE_RATE_KEY] = decision.percentage
    return event


DEFAULT_PROCESSORS: tuple[Processor, ...] = (validate, enrich, pseudonymise, normalise, sample)


def run(event: Event, processors: tuple[Processor, ...] = DEFAULT_PROCESSORS) -> Event | None:
    for processor in processors:
        result = processor(event)
        if result is None:
            return None
        event = result
    return event
