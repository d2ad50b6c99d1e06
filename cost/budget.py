"""Hourly budget guardrails per feature (plan #305, field cases 5 and 6).

Each (feature, UTC hour) has one budget document. Admission is atomic without a lock: read the document with its
ETag; if ``spent + reserved + estimate`` exceeds the cap (or the cap is already reached) the work is BLOCKED and
nothing is written; otherwise the document is replaced *if it still has that ETag* with the estimate reserved. A
412 means another admission got there first: re-read and decide again (a bounded loop of concurrency control,
not a retry of throttling — the SDK alone retries 429s).

Amounts are integer nano-USD, so "0.10 + 0.70 reaches a 0.80 cap" is exact: the cap is reached, and every later
request in that hour is blocked ("the cap trips"). Admission is allowed iff ``used < cap`` and
``used + estimate <= cap``.

The soft threshold (a percentage of the cap) answers WARN whenever spend plus reservations is at or above it; the
``Ai.Budget.ThresholdCrossed`` event is raised once per window: the flag is set in the same conditional write.

When the provider's usage is recorded the reservation is settled (``reserved -= estimate``, ``spent += actual``)
idempotently per generation id: a reservation is settled only while it is pending; a generation that was never
reserved is remembered in ``unreserved`` so a redelivery does not count it twice.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from cost import attributes as cattr
from cost.budget_config import BudgetConfig
from cost.events import BUDGET_BLOCKED, BUDGET_THRESHOLD_CROSSED
from cost.periods import hour_key, iso
from shared.cosmos import InstrumentedContainer
from shared.errors import AppError, ErrorCode
from shared.telemetry import attributes as attr
from shared.telemetry import emit

MAX_ATTEMPTS: Final = 24
"""Conditional writes tried per decision before giving up with a transient error (contention, not throttling)."""
_BACKOFF_SECONDS: Final = 0.004

T = TypeVar("T")
Doc = dict[str, Any]


class Decision(enum.StrEnum):
    ALLOW = "allow"
    WARN = "warn"
    """Admitted, but spend plus reservations is at or above the soft threshold."""
    BLOCK = "block"
    """Refused: the hard cap would be exceeded or is reached. Nothing was reserved."""


@dataclass(frozen=True)
class Admission:
    decision: Decision
    feature: str
    window: str
    estimate_nusd: int
    cap_nusd: int
    used_nusd: int
    """Spent plus reserved after this decision (unchanged by a BLOCK)."""
    soft_alert_raised: bool = False
    """This admission crossed the soft threshold first in its window (the event was emitted)."""

    @property
    def admitted(self) -> bool:
        return self.decision is not Decision.BLOCK


def budget_id(feature: str, window: str) -> str:
    return f"{feature}|{window}"


def window_of(moment: datetime) -> str:
    return hour_key(moment)


class BudgetLedger:
    def __init__(self, container: InstrumentedContainer, config: BudgetConfig, *,
                 max_attempts: int = MAX_ATTEMPTS, sleep: Callable[[float], None] = time.sleep) -> None:
        self._container = container
        self._config = config
        self._max_attempts = max_attempts
        self._sleep = sleep

    @property
    def config(self) -> BudgetConfig:
        return self._config

    def admit(self, feature: str, generation_id: str, estimate_nusd: int, at: datetime) -> Admission:
        """Reserve ``estimate_nusd`` for a generation in the window of ``at``, or refuse atomically."""
        if estimate_nusd <= 0:
            raise ValueError("an estimate must be > 0 nUSD")
        window = window_of(at)
        admission = self._apply(feature, window, lambda doc: self._admission(doc, generation_id, estimate_nusd))
        if admission.decision is Decision.BLOCK:
            emit(BUDGET_BLOCKED, {attr.FEATURE: feature, cattr.BUDGET_WINDOW: window,
                                  cattr.BUDGET_CAP_NUSD: admission.cap_nusd,
                                  cattr.BUDGET_USED_NUSD: admission.used_nusd,
                                  cattr.ESTIMATED_COST_NUSD: estimate_nusd})
        if admission.soft_alert_raised:
            self._soft_alert(feature, window, admission.used_nusd)
        return admission

    def is_reserved(self, feature: str, window: str, generation_id: str) -> bool:
        doc = self._container.read(budget_id(feature, window), partition_key=feature)
        return doc is not None and generation_id in doc.get("pending", {})

    def settle(self, feature: str, window: str, generation_id: str, actual_nusd: int, *, reserved: bool) -> bool:
        """Release the generation's reservation and add its actual cost; False when it was already settled."""
        changed, raised, used = self._apply(
            feature, window, lambda doc: self._settlement(doc, generation_id, actual_nusd, reserved))
        if raised:
            self._soft_alert(feature, window, used)
        return changed

    def windows_since(self, window: str) -> list[Doc]:
        """Budget documents of every feature from ``window`` on (for the cost report)."""
        return self._container.query(
            "SELECT c.feature, c.hour, c.cap_nusd, c.soft_nusd, c.spent_nusd, c.reserved_nusd, c.soft_alerted,"
            " c.admitted FROM c WHERE c.hour >= @since", {"@since": window})

    # --- decisions (pure: the document in, the answer and the new document out) ---------------------------------

    def _admission(self, doc: Doc, generation_id: str, estimate: int) -> tuple[Admission, Doc | None]:
        feature, window = doc["feature"], doc["hour"]
        cap, soft = self._config.cap_for(feature), self._config.soft_for(feature)
        used = doc["spent_nusd"] + doc["reserved_nusd"]
        if used >= cap or used + estimate > cap:
            return Admission(Decision.BLOCK, feature, window, estimate, cap, used), None
        after = used + estimate
        raise_alert = after >= soft and not doc["soft_alerted"]
        updated = {**doc, "cap_nusd": cap, "soft_nusd": soft, "reserved_nusd": doc["reserved_nusd"] + estimate,
                   "pending": {**doc["pending"], generation_id: estimate}, "admitted": doc["admitted"] + 1,
                   "soft_alerted": doc["soft_alerted"] or raise_alert}
        decision = Decision.WARN if after >= soft else Decision.ALLOW
        return Admission(decision, feature, window, estimate, cap, after, raise_alert), updated

    def _settlement(self, doc: Doc, generation_id: str, actual: int,
                    reserved: bool) -> tuple[tuple[bool, bool, int], Doc | None]:
        used = doc["spent_nusd"] + doc["reserved_nusd"]
        if reserved:
            estimate = doc["pending"].get(generation_id)
            if estimate is None:
                return (False, False, used), None
            pending = {key: value for key, value in doc["pending"].items() if key != generation_id}
            updated = {**doc, "pending": pending, "reserved_nusd": doc["reserved_nusd"] - estimate}
        else:
            if generation_id in doc["unreserved"]:
                return (False, False, used), None
            updated = {**doc, "unreserved": [*doc["unreserved"], generation_id]}
        updated["spent_nusd"] = doc["spent_nusd"] + actual
        after = updated["spent_nusd"] + updated["reserved_nusd"]
        raise_alert = after >= self._config.soft_for(doc["feature"]) and not doc["soft_alerted"]
        updated["soft_alerted"] = doc["soft_alerted"] or raise_alert
        return (True, raise_alert, after), updated

    # --- the optimistic-concurrency loop ------------------------------------------------------------------------

    def _apply(self, feature: str, window: str, change: Callable[[Doc], tuple[T, Doc | None]]) -> T:
        for attempt in range(self._max_attempts):
            doc, etag = self._current(feature, window)
            result, updated = change(doc)
            if updated is None:
                return result
            updated["updated_at"] = iso(datetime.now(UTC))
            if self._container.replace_if_match(updated, feature, etag) is not None:
                return result
            self._sleep(random.uniform(0, _BACKOFF_SECONDS * (attempt + 1)))  # noqa: S311 (jitter, not crypto)
        raise AppError(ErrorCode.THROTTLED, "the AI budget is too busy to decide now; retry shortly")

    def _current(self, feature: str, window: str) -> tuple[Doc, str]:
        key = budget_id(feature, window)
        for _ in range(self._max_attempts):
            found = self._container.read(key, partition_key=feature)
            if found is None:
                found = self._container.create(self._fresh(feature, window), partition_key=feature)
            if found is not None:  # None: another writer created it between our read and create
                return {k: v for k, v in found.items() if not k.startswith("_")}, found["_etag"]
        raise AppError(ErrorCode.THROTTLED, "the AI budget is too busy to decide now; retry shortly")

    def _fresh(self, feature: str, window: str) -> Doc:
        return {"id": budget_id(feature, window), "feature": feature, "hour": window, "kind": "budget",
                "cap_nusd": self._config.cap_for(feature), "soft_nusd": self._config.soft_for(feature),
                "spent_nusd": 0, "reserved_nusd": 0, "pending": {}, "unreserved": [], "admitted": 0,
                "soft_alerted": False}

    def _soft_alert(self, feature: str, window: str, used: int) -> None:
        emit(BUDGET_THRESHOLD_CROSSED, {attr.FEATURE: feature, cattr.BUDGET_WINDOW: window,
                                        cattr.BUDGET_CAP_NUSD: self._config.cap_for(feature),
                                        cattr.BUDGET_USED_NUSD: used,
                                        cattr.BUDGET_SOFT_PERCENT: self._config.soft_percent})
