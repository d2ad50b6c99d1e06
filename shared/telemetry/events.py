"""The event registry: every custom event the app can emit is declared here, once, by :func:`define`.

A declaration names the event (``Domain.Subject.Action``, PascalCase, two or three segments, past tense), says what
it is for, lists its dimensions (attribute keys from :mod:`shared.telemetry.attributes`) and whether it may be
sampled. :func:`shared.telemetry.emit` only accepts an :class:`EventSpec`, so an undeclared name cannot be emitted;
undeclared dimensions are caught by the pipeline. ``docs/telemetry-catalog.md`` is generated from :data:`REGISTRY`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from shared.telemetry import attributes as attr


class Sampling(enum.Enum):
    """Whether an event follows its trace's sampling decision or is always kept."""

    SAMPLED = "sampled"
    ALWAYS = "always"


@dataclass(frozen=True)
class EventSpec:
    name: str
    purpose: str
    dimensions: frozenset[str]
    sampling: Sampling
    module: str


REGISTRY: Final[dict[str, EventSpec]] = {}

_WORD = r"[A-Z][a-z0-9]+"
"""A PascalCase word: acronyms are written as words (``Ai``, ``Http``), so ``AI`` is refused."""
_NAME = re.compile(rf"^{_WORD}(?:{_WORD})*(?:\.{_WORD}(?:{_WORD})*){{1,2}}$")
_IRREGULAR_PAST = frozenset({"Sent", "Built", "Found", "Lost", "Made", "Run", "Read", "Kept", "Left", "Set", "Shut"})


class RegistryError(ValueError):
    """An event declaration breaks the naming grammar or uses an undeclared attribute key."""


def check_name(name: str) -> None:
    """Raise :class:`RegistryError` unless ``name`` is ``Domain.Subject.Action`` with a past-tense action."""
    if not _NAME.match(name):
        raise RegistryError(f"event name {name!r} is not Domain.Subject.Action in PascalCase (2-3 segments)")
    action = re.findall(_WORD, name.rsplit(".", 1)[-1])[-1]
    if not (action.endswith("ed") or action in _IRREGULAR_PAST):
        raise RegistryError(f"event name {name!r} must end in a past-tense verb, not {action!r}")


def define(name: str, purpose: str, dimensions: Iterable[str], *, sampling: Sampling, module: str) -> EventSpec:
    """Declare an event once; re-declaring a name (even identically) is an error."""
    check_name(name)
    dims = frozenset(dimensions)
    unknown = sorted(d for d in dims if d not in attr.SPECS)
    if unknown:
        raise RegistryError(f"event {name}: undeclared attribute keys {unknown}")
    if name in REGISTRY:
        raise RegistryError(f"event {name} is declared twice ({REGISTRY[name].module} and {module})")
    spec = EventSpec(name, purpose, dims, sampling, module)
    REGISTRY[name] = spec
    return spec
