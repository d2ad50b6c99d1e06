"""Drift findings: one document per run and drifted location, created once and never changed.

A finding keeps the evidence an operator needs after the fact: the baseline version and its expected hash, the
actual hash, the verdict, and the content that was hashed (system properties dropped, exits sorted: re-hashing it
gives ``actual_hash``) with the document's ``_etag`` and last-write time (``_ts``). Each run writes its own findings;
a location that stays drifted is reported again by the next run, in a new document.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from integrity import clock
from integrity.compare import Comparison
from integrity.containers import FINDINGS
from integrity.observed import Observation
from shared.cosmos import CosmosGateway

MAX_EVIDENCE_BYTES = 256 * 1024
"""Evidence larger than this (a huge document added out of band) is summarised, so the finding can still be stored."""
_MAX_ID = 255
_FOR_RUN = "SELECT * FROM c WHERE c.run_id = @run ORDER BY c.location_id"


def finding_id(run_id: str, location_id: str) -> str:
    candidate = f"{run_id}:{location_id}"
    if len(candidate) <= _MAX_ID:
        return candidate
    return f"{run_id}:sha256:{hashlib.sha256(location_id.encode('utf-8')).hexdigest()}"


def record_finding(cosmos: CosmosGateway, run_id: str, comparison: Comparison, observation: Observation | None,
                   baseline_version: int) -> dict[str, Any] | None:
    """Create the finding; ``None`` if this run already stored one for the location (never overwritten)."""
    document = {
        "id": finding_id(run_id, comparison.location_id), "run_id": run_id,
        "location_id": comparison.location_id, "verdict": comparison.verdict.value,
        "baseline_version": baseline_version, "expected_hash": comparison.expected_hash,
        "actual_hash": comparison.actual_hash, "detected_at": clock.iso(clock.now()),
        "evidence": _evidence(observation),
    }
    return cosmos.container(FINDINGS).create(document, partition_key=run_id)


def findings_of(cosmos: CosmosGateway, run_id: str) -> list[dict[str, Any]]:
    return cosmos.container(FINDINGS).query(_FOR_RUN, {"@run": run_id}, partition_key=run_id)


def _evidence(observation: Observation | None) -> dict[str, Any] | None:
    """``None`` for a missing location (there is nothing left to keep)."""
    if observation is None:
        return None
    evidence = observation.evidence()
    size = len(json.dumps(evidence["document"]))  # ASCII escapes: out-of-band text need not be encodable UTF-8
    if size > MAX_EVIDENCE_BYTES:
        evidence["document"] = {"omitted": f"document of {size} bytes exceeds {MAX_EVIDENCE_BYTES}"}
    return evidence
