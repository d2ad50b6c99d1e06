"""The stored form of one baseline version: building it signed, and verifying it back into a :class:`Baseline`.

    {"id": "baseline:000000007", "version": 7, "previous_version": 6, "created_at": "…Z",
     "source": "seed" | "app-update", "location_id": "<the location an app-update changed>",
     "key_id": "<16 hex>", "hashes": {"<location id>": "<sha256 hex>", …}, "signature": "<hmac-sha256 hex>"}

``signature`` is HMAC-SHA256, under ``INTEGRITY_SIGNING_KEY``, of the RFC 8785 form of every other field (Cosmos
system properties excluded): changing any field, the id included, breaks it. The id is derived from the version, so
two writers racing for one version collide in Cosmos and exactly one wins.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785

from integrity import clock, signing
from integrity.canonical import is_hash

SIGNATURE = "signature"


class BaselineSource(str, enum.Enum):
    SEED = "seed"
    """The world as seeded, or as it is now (an operator's deliberate full re-baseline)."""
    APP_UPDATE = "app-update"
    """One location changed by the app itself (the world-content-updated handler): not drift."""


class BaselineProblem(str, enum.Enum):
    BAD_SIGNATURE = "bad_signature"
    """Signed with this key, then altered (or the signature was replaced)."""
    OTHER_KEY = "other_key"
    """Signed with another key: a rotated key or a baseline from another environment."""
    MALFORMED = "malformed"
    """Fields missing or of the wrong type: not a baseline this code wrote."""


@dataclass(frozen=True)
class Baseline:
    """A verified baseline version."""

    version: int
    created_at: str
    source: BaselineSource
    hashes: Mapping[str, str]


class BaselineRejected(Exception):
    """A stored baseline did not verify; it must not be used."""

    def __init__(self, version: int | None, problem: BaselineProblem) -> None:
        super().__init__(f"integrity baseline version {version} rejected: {problem.value}")
        self.version = version
        self.problem = problem


def baseline_id(version: int) -> str:
    return f"baseline:{version:09d}"


def signed_document(key: bytes, version: int, source: BaselineSource, location_id: str | None,
                    hashes: Mapping[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": baseline_id(version), "version": version, "previous_version": version - 1 or None,
        "created_at": clock.iso(clock.now()), "source": source.value, "key_id": signing.key_id(key),
        "hashes": dict(sorted(hashes.items())),
    }
    if location_id is not None:
        document["location_id"] = location_id
    document[SIGNATURE] = signing.sign(key, _signed_bytes(document))
    return document


def verify_document(document: Mapping[str, Any], key: bytes) -> Baseline:
    """The baseline a stored document holds, or :class:`BaselineRejected` saying why it cannot be trusted."""
    version = _integer(document.get("version"))
    if not _well_formed(document):
        raise BaselineRejected(version, BaselineProblem.MALFORMED)
    try:
        signed = _signed_bytes(document)
    except rfc8785.CanonicalizationError:
        raise BaselineRejected(version, BaselineProblem.MALFORMED) from None
    if not signing.verify(key, signed, document.get(SIGNATURE)):
        other = document.get("key_id") != signing.key_id(key)
        raise BaselineRejected(version, BaselineProblem.OTHER_KEY if other else BaselineProblem.BAD_SIGNATURE)
    return Baseline(document["version"], document["created_at"], BaselineSource(document["source"]),
                    dict(document["hashes"]))


def version_of(document: Mapping[str, Any]) -> int | None:
    """The integer version a stored document claims (before any verification), or None."""
    return _integer(document.get("version"))


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _signed_bytes(document: Mapping[str, Any]) -> bytes:
    """Every field but the signature and Cosmos' system properties, in RFC 8785 form."""
    return rfc8785.dumps({k: v for k, v in document.items() if k != SIGNATURE and not k.startswith("_")})


def _well_formed(document: Mapping[str, Any]) -> bool:
    version, hashes = _integer(document.get("version")), document.get("hashes")
    return (version is not None and version >= 1 and document.get("id") == baseline_id(version)
            and isinstance(document.get("created_at"), str)
            and document.get("source") in {s.value for s in BaselineSource}
            and isinstance(document.get(SIGNATURE), str)
            and isinstance(hashes, dict) and all(isinstance(k, str) and is_hash(v) for k, v in hashes.items()))
