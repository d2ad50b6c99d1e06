"""Attribute keys of the AI cost events and metrics, declared into the shared registry at import.

Amounts are integers of nano-USD (``*_nusd``). No key ever carries prompt text: only counts, ids and model names.
"""

from __future__ import annotations

from typing import Final

from shared.telemetry.attributes import AttributeSpec, declare

COST_NUSD: Final = "game.ai.cost_nusd"
"""Cost in nano-USD (exact integer): of one generation as billed, or of a rolled-up period."""
ESTIMATED_COST_NUSD: Final = "game.ai.estimated_cost_nusd"
"""Estimated cost in nano-USD of a generation before it runs (input counted, output at its maximum)."""
PRICE_CEILING: Final = "game.ai.price.ceiling"
"""True when the model is not in the price table and was priced at the configured ceiling."""
TOKEN_METHOD: Final = "game.ai.token_method"
"""How input tokens were counted: ``exact``, ``fallback`` (exact with a substitute encoding) or ``heuristic``."""
ENCODING: Final = "game.ai.encoding"
"""Tokenizer encoding used (``o200k_base``, ``cl100k_base``)."""
ESTIMATE_ERROR_TOKENS: Final = "game.ai.estimate_error_tokens"
"""Provider-reported prompt tokens minus the estimated input tokens (positive: the estimate was low)."""
REASONING_TOKENS: Final = "game.ai.reasoning_tokens"
"""Reasoning tokens the provider reported (a subset of the output tokens)."""
BUDGET_DECISION: Final = "game.ai.budget.decision"
"""Guardrail decision for new AI work: ``allow``, ``warn`` or ``block``."""
BUDGET_WINDOW: Final = "game.ai.budget.window"
"""Budget window (UTC hour, ``2026-12-03T19``) a reservation or spend belongs to."""
BUDGET_CAP_NUSD: Final = "game.ai.budget.cap_nusd"
"""Hard cap of a feature's hourly budget, nano-USD."""
BUDGET_USED_NUSD: Final = "game.ai.budget.used_nusd"
"""Spent plus reserved in the budget window, nano-USD."""
BUDGET_SOFT_PERCENT: Final = "game.ai.budget.soft_percent"
"""Soft threshold of a budget, percent of its cap."""
PERIOD: Final = "game.ai.period"
"""A rollup period: ``hour:2026-12-03T19`` or ``day:2026-12-03``."""
PERIOD_KIND: Final = "game.ai.period.kind"
"""``hour`` or ``day``."""
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
"""OpenTelemetry GenAI: ``input`` or ``output`` on the ``gen_ai.client.token.usage`` histogram."""
GEN_AI_OPERATION: Final = "gen_ai.operation.name"
"""OpenTelemetry GenAI operation name (``chat``)."""

declare(
    *(AttributeSpec(key, str) for key in (
        TOKEN_METHOD, ENCODING, BUDGET_DECISION, BUDGET_WINDOW, PERIOD, PERIOD_KIND, GEN_AI_TOKEN_TYPE,
        GEN_AI_OPERATION,
    )),
    *(AttributeSpec(key, int) for key in (
        COST_NUSD, ESTIMATED_COST_NUSD, ESTIMATE_ERROR_TOKENS, REASONING_TOKENS, BUDGET_CAP_NUSD, BUDGET_USED_NUSD,
        BUDGET_SOFT_PERCENT,
    )),
    AttributeSpec(PRICE_CEILING, bool),
)
