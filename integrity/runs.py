"""One run document per timer occurrence: the exactly-once claim and, at the end, the run's summary.

A timer occurrence can fire twice (a lost singleton lease, a restart, a second instance: field case 10). The run's id
is derived from the occurrence (``run:2026-12-03T19:05:00Z``) and the document is *created* before any work; Cosmos
lets exactly one create succeed, so exactly one invocation owns the occurrence and the others do nothing.

A run that crashes after its claim leaves its document in ``started``: that occurrence is not retried (its claim
stands and a duplicate firing still skips), and its partial findings stay stored but are not reported as current.
The next occurrence has its own id and runs normally; since every run recomputes the whole world, nothing is lost
but one data point. The report shows such a run as the latest *started* one, so a stuck run is visible.
"""

from __future__ import annotations

import enum
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from integrity import clock
from integrity.containers import RUNS
from shared.cosmos import CosmosGateway
from shared.errors import AppError, ErrorCode


class RunStatus(str, enum.Enum):
    STARTED = "started"
    COMPLETED = "completed"


class RunResult(str, enum.Enum):
    CLEAN = "clean"
    """Every location matched the baseline."""
    DRIFT = "drift"
    """At least one location did not; findings were stored."""
    NO_BASELINE = "no_baseline"
    """No baseline was ever recorded: nothing to compare against (seeding records one)."""
    BASELINE_REJECTED = "baseline_rejected"
    """The latest baseline failed verification and was not used."""


@dataclass(frozen=True)
class Claim:
    """This invocation owns the occurrence."""

    run_id: str
    scheduled_for: str
    document: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)

    def elapsed_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)


@dataclass(frozen=True)
class RunSummary:
    result: RunResult
    baseline_version: int | None
    counts: dict[str, int]
    checked_count: int
    finding_count: int
    duration_ms: int
    baseline_problem: str | None = None


def run_id(occurrence: datetime) -> str:
    return f"run:{clock.iso(occurrence, 'seconds')}"


def claim(cosmos: CosmosGateway, occurrence: datetime) -> Claim | None:
    """Create the run document for ``occurrence``; ``None`` when another invocation already did."""
    rid = run_id(occurrence)
    scheduled_for = clock.iso(occurrence, "seconds")
    document = {"id": rid, "scheduled_for": scheduled_for, "status": RunStatus.STARTED.value,
                "started_at": clock.iso(clock.now()), "owner": _owner()}
    created = cosmos.container(RUNS).create(document, partition_key=rid)
    return None if created is None else Claim(rid, scheduled_for, created)


def complete(cosmos: CosmosGateway, claimed: Claim, summary: RunSummary) -> dict[str, Any]:
    """Write the summary into the run's own document (only its owner ever changes it, guarded by its ETag)."""
    document = {k: v for k, v in claimed.document.items() if not k.startswith("_")}
    document.update(asdict(summary), status=RunStatus.COMPLETED.value, completed_at=clock.iso(clock.now()),
                    result=summary.result.value)
    written = cosmos.container(RUNS).replace_if_match(document, claimed.run_id, claimed.document["_etag"])
    if written is None:
        raise AppError(ErrorCode.CONFLICT, f"integrity run {claimed.run_id} was changed by someone else")
    return written


def _owner() -> str:
    """Which process claimed the run (host name, pid, a random suffix): for the operator, not for logic."""
    return f"{socket.gethostname()[:64]}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
