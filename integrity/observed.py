"""The world as it is in Cosmos now: every location document, hashed.

Reads the real ``locations`` container through the instrumented gateway (never a stand-in: the reference hashed an
in-memory copy in production and so checked nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind

from game.containers import LOCATIONS
from integrity.canonical import UnhashableLocation, content_of, location_hash
from integrity.clock import from_ts
from shared.cosmos import CosmosGateway
from shared.telemetry import attributes as attr
from shared.telemetry import timed

_ALL = "SELECT * FROM c"


@dataclass(frozen=True)
class Observation:
    """One location as read: its hash (``None`` when it cannot be canonicalised) and the stored document."""

    location_id: str
    hash: str | None
    document: dict[str, Any]

    def evidence(self) -> dict[str, Any]:
        """What a finding keeps: the content that was hashed and when Cosmos last saw it written (``_ts``)."""
        return {"document": content_of(self.document), "etag": self.document.get("_etag"),
                "modified_at": from_ts(self.document.get("_ts"))}


def read_locations(cosmos: CosmosGateway) -> list[dict[str, Any]]:
    return cosmos.container(LOCATIONS).query(_ALL)


def observe(documents: list[dict[str, Any]]) -> dict[str, Observation]:
    """Hash every document; one that cannot be canonicalised is still observed (as unhashable), never skipped."""
    with timed("integrity hash locations", kind=SpanKind.INTERNAL, attributes={attr.ITEM_COUNT: len(documents)}):
        return {str(doc["id"]): Observation(str(doc["id"]), _hash_or_none(doc), doc) for doc in documents}


def observe_world(cosmos: CosmosGateway) -> dict[str, Observation]:
    return observe(read_locations(cosmos))


def _hash_or_none(document: dict[str, Any]) -> str | None:
    try:
        return location_hash(document)
    except UnhashableLocation:
        return None
