"""Recording what a generation really cost: one usage record per generation id, settled against its budget once.

The provider-reported usage is what is billed. Each record is a document of its own (id and partition key = the
generation id), so no writer contends with another (field case 9) and a redelivered message finds its record with a
point read. A record moves ``recorded`` -> ``settled``:

1. read the record; a ``settled`` one means the message is a duplicate: nothing changes;
2. otherwise create it (priced once, at the time the completion was reported; ``reserved`` notes whether the budget
   held a reservation for it at that moment), or pick up the one a crashed attempt left;
3. settle the budget (idempotent per generation id: see :mod:`cost.budget`);
4. mark the record ``settled`` with a conditional write: the one delivery that wins emits ``Ai.Cost.Recorded`` and
   the token metrics, so a redelivery emits nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cost import attributes as cattr
from cost import generation, metrics
from cost.budget import BudgetLedger, window_of
from cost.events import COST_RECORDED
from cost.periods import day_of_hour, hour_key, iso
from cost.prices import PriceTable, Usage, UsageError
from shared.cosmos import InstrumentedContainer
from shared.errors import AppError, ErrorCode
from shared.telemetry import attributes as attr
from shared.telemetry import emit

RECORDED: Final = "recorded"
SETTLED: Final = "settled"
Doc = dict[str, Any]


@dataclass(frozen=True)
class Completion:
    """A generation's reported usage (the ``ai.generation.completed`` payload)."""

    generation_id: str
    feature: str
    model: str
    usage: Usage
    estimated_input_tokens: int

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Completion:
        """From a schema-checked payload; inconsistent counts are a validation error naming the field."""
        counts = payload["usage"]
        try:
            usage = Usage(counts["prompt_tokens"], counts["completion_tokens"], counts.get("cached_tokens", 0),
                          counts.get("reasoning_tokens", 0))
        except UsageError as exc:
            raise AppError(ErrorCode.VALIDATION_FAILED, str(exc), field=f"usage.{exc.field}") from None
        return cls(payload["generation_id"].lower(), payload["feature"], payload["model"], usage,
                   payload["estimated_input_tokens"])

    def payload(self) -> dict[str, Any]:
        return {"generation_id": self.generation_id, "feature": self.feature, "model": self.model,
                "usage": {"prompt_tokens": self.usage.prompt_tokens,
                          "completion_tokens": self.usage.completion_tokens,
                          "cached_tokens": self.usage.cached_tokens,
                          "reasoning_tokens": self.usage.reasoning_tokens},
                "estimated_input_tokens": self.estimated_input_tokens}

    def budget_window(self, reported_at: datetime) -> str:
        """The window of the generation's reservation (its id's time), or of the report for a foreign id."""
        return window_of(generation.issued_at(self.generation_id) or reported_at)


@dataclass(frozen=True)
class Recorded:
    record: Doc
    duplicate: bool


class UsageRecorder:
    def __init__(self, usage: InstrumentedContainer, ledger: BudgetLedger, prices: PriceTable) -> None:
        self._usage = usage
        self._ledger = ledger
        self._prices = prices

    def record(self, completion: Completion, *, reported_at: datetime, now: datetime | None = None) -> Recorded:
        key = completion.generation_id
        record = self._usage.read(key, partition_key=key)
        if record is not None and record["state"] == SETTLED:
            return Recorded(record, duplicate=True)
        if record is None:
            record = self._create(completion, reported_at, now or datetime.now(UTC))
            if record["state"] == SETTLED:
                return Recorded(record, duplicate=True)
        self._ledger.settle(record["feature"], record["budget_window"], key, record["cost_nusd"],
                            reserved=record["reserved"])
        settled = {k: v for k, v in record.items() if not k.startswith("_")}
        settled.update(state=SETTLED, settled_at=iso(datetime.now(UTC)))
        if self._usage.replace_if_match(settled, key, record["_etag"]) is None:
            return Recorded(record, duplicate=True)  # a concurrent delivery of the same message settled it
        _report(settled)
        return Recorded(settled, duplicate=False)

    def _create(self, completion: Completion, reported_at: datetime, now: datetime) -> Doc:
        window = completion.budget_window(reported_at)
        reserved = self._ledger.is_reserved(completion.feature, window, completion.generation_id)
        cost = self._prices.cost(completion.usage, completion.model, reported_at)
        hour = hour_key(now)
        usage = completion.usage
        doc = {
            "id": completion.generation_id, "generation_id": completion.generation_id, "kind": "usage",
            "hour": hour, "day": day_of_hour(hour), "feature": completion.feature, "model": completion.model,
            "priced_as": cost.price.model, "price_ceiling": cost.ceiling,
            "prompt_tokens": usage.prompt_tokens, "cached_tokens": usage.cached_tokens,
            "completion_tokens": usage.completion_tokens, "reasoning_tokens": usage.reasoning_tokens,
            "cost_nusd": cost.nusd, "estimated_input_tokens": completion.estimated_input_tokens,
            "estimate_error_tokens": usage.prompt_tokens - completion.estimated_input_tokens,
            "budget_window": window, "reserved": reserved, "state": RECORDED,
            "reported_at": iso(reported_at), "recorded_at": iso(now),
        }
        created = self._usage.create(doc, partition_key=completion.generation_id)
        if created is not None:
            return created
        existing = self._usage.read(completion.generation_id, partition_key=completion.generation_id)
        if existing is None:  # created, then gone: nothing in this app deletes records; let the host retry
            raise RuntimeError("a usage record vanished between its create and its read")
        return existing


def _report(record: Doc) -> None:
    emit(COST_RECORDED, {
        attr.GEN_AI_MODEL: record["model"], attr.FEATURE: record["feature"],
        attr.GEN_AI_INPUT_TOKENS: record["prompt_tokens"], attr.GEN_AI_CACHED_INPUT_TOKENS: record["cached_tokens"],
        attr.GEN_AI_OUTPUT_TOKENS: record["completion_tokens"], cattr.REASONING_TOKENS: record["reasoning_tokens"],
        cattr.COST_NUSD: record["cost_nusd"], cattr.ESTIMATE_ERROR_TOKENS: record["estimate_error_tokens"],
        cattr.PRICE_CEILING: record["price_ceiling"], cattr.BUDGET_WINDOW: record["budget_window"],
    })
    metrics.record_usage(record["model"], record["feature"], record["prompt_tokens"], record["completion_tokens"],
                         record["cost_nusd"])
