"""Append-only, signed baselines: what every location's hash is supposed to be, and the three ways to extend it.

- :func:`record_seed`: the seeding hook. Merges the hashes of the documents just seeded into the latest baseline
  (seeding upserts, never deletes, so locations the app added since stay). Appends nothing when nothing changed, so
  re-seeding the same world is free. Documents added out of band are *not* absorbed: only the seeded ones are hashed.
- :func:`record_update`: one location written by the app itself (operator edit, AI generation): not drift.
- :func:`record_baseline`: hash every location now in Cosmos (a deliberate full re-baseline, e.g. after an operator
  reviewed the drift, or after the signing key was rotated).

A new version is a new document created with ``create()`` (never replaced or upserted); a writer that loses the race
for a version re-reads the latest and appends after it. The latest version is the one with the highest ``version``;
one that does not verify is reported (``Integrity.Baseline.Rejected``) and never used, nor silently replaced by an
older one. Each version holds the full map (simple to verify, no chain to replay); one document per version bounds
the world at roughly 18,000 locations (Cosmos' 2 MB item limit at ~110 bytes per entry).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from integrity import attributes as ia
from integrity import signing
from integrity.baseline_doc import (
    Baseline,
    BaselineProblem,
    BaselineRejected,
    BaselineSource,
    signed_document,
    verify_document,
    version_of,
)
from integrity.canonical import is_hash, location_hash
from integrity.containers import BASELINES
from integrity.events import BASELINE_RECORDED, BASELINE_REJECTED
from integrity.observed import observe_world
from shared.cosmos import CosmosGateway
from shared.errors import AppError, ErrorCode
from shared.telemetry import attributes as attr
from shared.telemetry import emit

__all__ = ["Baseline", "BaselineProblem", "BaselineRejected", "BaselineSource", "latest_baseline",
           "latest_document", "record_baseline", "record_seed", "record_update"]

_LATEST = "SELECT TOP 1 * FROM c ORDER BY c.version DESC"
_APPEND_ATTEMPTS = 8

_log = logging.getLogger(__name__)

HashesAfter = Callable[[Mapping[str, Any] | None], Mapping[str, str] | None]
"""Given the latest stored document (or None), the next version's hashes, or None when nothing is to be added."""


# --- reading ----------------------------------------------------------------------------------------------------

def latest_document(cosmos: CosmosGateway) -> dict[str, Any] | None:
    """The stored document with the highest version, verified or not."""
    found = cosmos.container(BASELINES).query(_LATEST)
    return found[0] if found else None


def latest_baseline(cosmos: CosmosGateway, key: bytes | None = None) -> Baseline | None:
    """The latest version, verified; ``None`` when none was ever recorded; a failed verification is reported and
    raised as :class:`BaselineRejected`."""
    document = latest_document(cosmos)
    if document is None:
        return None
    return _trusted(document, key or signing.signing_key())


def _trusted(document: Mapping[str, Any], key: bytes) -> Baseline:
    try:
        return verify_document(document, key)
    except BaselineRejected as rejected:
        _log.error("%s: it is not used; record a new baseline once the cause is understood", rejected)
        emit(BASELINE_REJECTED, {ia.BASELINE_VERSION: rejected.version, ia.BASELINE_PROBLEM: rejected.problem})
        raise


# --- recording ----------------------------------------------------------------------------------------------------

def record_seed(cosmos: CosmosGateway, seeded: Iterable[Mapping[str, Any]]) -> Baseline:
    """The seeding hook: call it with the location documents just seeded (as written)."""
    key = signing.signing_key()
    hashes = {str(document["id"]): location_hash(document) for document in seeded}

    def merged(latest: Mapping[str, Any] | None) -> Mapping[str, str] | None:
        current = dict(_trusted_or_refused(latest, key).hashes) if latest is not None else {}
        after = {**current, **hashes}
        return None if latest is not None and after == current else after

    return _append(cosmos, key, BaselineSource.SEED, None, merged)


def record_update(cosmos: CosmosGateway, location_id: str,
                  written: Mapping[str, Any] | str | None) -> Baseline:
    """Seal one app-made change of ``location_id`` into the baseline.

    ``written`` is the location document the app wrote (hashed here, with the one canonical form), or its
    :func:`~integrity.canonical.location_hash`, or ``None`` when the app deleted the location. Idempotent: when the
    latest version already says so, nothing is appended (call it again on a redelivered event). Refused with
    ``AppError(conflict)`` when there is no baseline yet (seed first) or the latest one does not verify.
    """
    new_hash = _hash_of(location_id, written)
    key = signing.signing_key()

    def updated(latest: Mapping[str, Any] | None) -> Mapping[str, str] | None:
        if latest is None:
            raise AppError(ErrorCode.CONFLICT, "no integrity baseline yet: seed the world first")
        hashes = dict(_trusted_or_refused(latest, key).hashes)
        if hashes.get(location_id) == new_hash:
            return None
        if new_hash is None:
            hashes.pop(location_id, None)
        else:
            hashes[location_id] = new_hash
        return hashes

    return _append(cosmos, key, BaselineSource.APP_UPDATE, location_id, updated)


def record_baseline(cosmos: CosmosGateway, source: BaselineSource | str = BaselineSource.SEED) -> Baseline:
    """Hash every location now in Cosmos and append it as the next version. Whatever drift exists becomes the
    baseline: an operator decision, never something a run does by itself."""
    source = BaselineSource(source)
    key = signing.signing_key()
    observed = observe_world(cosmos)
    unhashable = sorted(lid for lid, seen in observed.items() if seen.hash is None)
    if unhashable:
        raise AppError(ErrorCode.CONFLICT, f"cannot baseline: {len(unhashable)} location(s) cannot be "
                                           f"canonicalised, first {unhashable[0]}")
    hashes = {lid: seen.hash for lid, seen in observed.items() if seen.hash is not None}
    return _append(cosmos, key, source, None, lambda latest: hashes)


def _hash_of(location_id: str, written: Mapping[str, Any] | str | None) -> str | None:
    if written is None:
        return None
    if isinstance(written, str):
        if not is_hash(written):
            raise ValueError("a hash must be a SHA-256 hex digest from integrity.canonical.location_hash")
        return written
    if written.get("id") != location_id:
        raise ValueError("the written document's id is not the location id")
    return location_hash(written)


def _trusted_or_refused(latest: Mapping[str, Any], key: bytes) -> Baseline:
    try:
        return _trusted(latest, key)
    except BaselineRejected as rejected:
        raise AppError(ErrorCode.CONFLICT, "the latest integrity baseline failed verification; nothing can be "
                                           "appended to it (record a full baseline deliberately)") from rejected


def _append(cosmos: CosmosGateway, key: bytes, source: BaselineSource, location_id: str | None,
            hashes_after: HashesAfter) -> Baseline:
    """Create version latest+1; a lost race re-reads the latest and tries again after it."""
    container = cosmos.container(BASELINES)
    for _ in range(_APPEND_ATTEMPTS):
        latest = latest_document(cosmos)
        hashes = hashes_after(latest)
        if hashes is None:
            assert latest is not None
            return verify_document(latest, key)
        document = signed_document(key, _next_version(latest), source, location_id, hashes)
        if container.create(document, partition_key=document["id"]) is not None:
            return _recorded(document, location_id)
    raise AppError(ErrorCode.CONFLICT, "integrity baseline is being appended by too many writers; retry later")


def _next_version(latest: Mapping[str, Any] | None) -> int:
    if latest is None:
        return 1
    version = version_of(latest)
    if version is None:
        raise AppError(ErrorCode.CONFLICT, "the latest integrity baseline document has no integer version: "
                                           "investigate and remove it")
    return version + 1


def _recorded(document: Mapping[str, Any], location_id: str | None) -> Baseline:
    baseline = Baseline(document["version"], document["created_at"], BaselineSource(document["source"]),
                        dict(document["hashes"]))
    emit(BASELINE_RECORDED, {ia.BASELINE_VERSION: baseline.version, ia.BASELINE_SOURCE: baseline.source,
                             attr.LOCATION_ID: location_id, attr.ITEM_COUNT: len(baseline.hashes)})
    _log.info("integrity baseline version %d recorded (%s, %d locations)", baseline.version,
              baseline.source.value, len(baseline.hashes))
    return baseline
