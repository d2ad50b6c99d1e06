"""Estimating a generation before it runs: exact input tokens, worst-case cost, and the budget's decision.

The prompt text is only counted: it reaches no event, log line or error body.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cost import attributes as cattr
from cost import generation
from cost.budget import Admission, BudgetLedger
from cost.events import COST_ESTIMATED
from cost.prices import Cost, PriceTable
from cost.tokens import ChatMessage, TokenCount, TokenCounter
from shared.telemetry import attributes as attr
from shared.telemetry import emit


@dataclass(frozen=True)
class Estimate:
    generation_id: str
    input_tokens: TokenCount
    cost: Cost
    admission: Admission

    def body(self) -> dict[str, Any]:
        return {
            "generation_id": self.generation_id,
            "input_tokens": self.input_tokens.tokens,
            "token_method": self.input_tokens.method.value,
            "encoding": self.input_tokens.encoding,
            "estimated_cost_nusd": self.cost.nusd,
            "price_ceiling": self.cost.ceiling,
            "decision": self.admission.decision.value,
            "budget": {"window": self.admission.window, "cap_nusd": self.admission.cap_nusd,
                       "used_nusd": self.admission.used_nusd},
        }


def estimate(ledger: BudgetLedger, counter: TokenCounter, prices: PriceTable, *, feature: str, model: str,
             messages: Sequence[ChatMessage], max_output_tokens: int, now: datetime) -> Estimate:
    """Count, price (output at ``max_output_tokens``) and ask the budget; a BLOCK reserves nothing."""
    tokens = counter.count_chat(messages, model)
    cost = prices.estimate(tokens.tokens, max_output_tokens, model, now)
    generation_id = generation.new_id(now)
    admission = ledger.admit(feature, generation_id, cost.nusd, now)
    emit(COST_ESTIMATED, {
        attr.GEN_AI_MODEL: model, attr.FEATURE: feature, attr.GEN_AI_INPUT_TOKENS: tokens.tokens,
        cattr.TOKEN_METHOD: tokens.method, cattr.ENCODING: tokens.encoding, cattr.ESTIMATED_COST_NUSD: cost.nusd,
        cattr.BUDGET_DECISION: admission.decision, cattr.PRICE_CEILING: cost.ceiling,
    })
    return Estimate(generation_id, tokens, cost, admission)
