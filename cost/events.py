"""Events of the AI cost package. Guardrail, cost and warning events are never sampled."""

from cost import attributes as cattr
from shared.telemetry import attributes as attr
from shared.telemetry.events import Sampling, define

COST_ESTIMATED = define(
    "Ai.Cost.Estimated",
    "Input tokens of a prompt were counted and the generation's cost estimated (output at its maximum); the budget"
    " decision is a dimension. Counts only: never the prompt text.",
    [attr.GEN_AI_MODEL, attr.FEATURE, attr.GEN_AI_INPUT_TOKENS, cattr.TOKEN_METHOD, cattr.ENCODING,
     cattr.ESTIMATED_COST_NUSD, cattr.BUDGET_DECISION, cattr.PRICE_CEILING],
    sampling=Sampling.SAMPLED,
    module=__name__,
)
BUDGET_BLOCKED = define(
    "Ai.Budget.Blocked",
    "A feature's hourly hard budget refused new AI work (spent + reserved + estimate would exceed the cap, or the cap"
    " is reached). Nothing was reserved.",
    [attr.FEATURE, cattr.BUDGET_WINDOW, cattr.BUDGET_CAP_NUSD, cattr.BUDGET_USED_NUSD, cattr.ESTIMATED_COST_NUSD],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
BUDGET_THRESHOLD_CROSSED = define(
    "Ai.Budget.ThresholdCrossed",
    "A feature's spend plus reservations reached the soft threshold of its hourly budget. Once per feature and hour"
    " (recorded atomically on the budget document).",
    [attr.FEATURE, cattr.BUDGET_WINDOW, cattr.BUDGET_CAP_NUSD, cattr.BUDGET_USED_NUSD, cattr.BUDGET_SOFT_PERCENT],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
COST_RECORDED = define(
    "Ai.Cost.Recorded",
    "A generation's provider-reported usage was priced, stored once and settled against its budget reservation.",
    [attr.GEN_AI_MODEL, attr.FEATURE, attr.GEN_AI_INPUT_TOKENS, attr.GEN_AI_CACHED_INPUT_TOKENS,
     attr.GEN_AI_OUTPUT_TOKENS, cattr.REASONING_TOKENS, cattr.COST_NUSD, cattr.ESTIMATE_ERROR_TOKENS,
     cattr.PRICE_CEILING, cattr.BUDGET_WINDOW],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
COST_AGGREGATED = define(
    "Ai.Cost.Aggregated",
    "A closed hour or day was rolled up per model and feature, exactly once (totals are exact sums of the records).",
    [cattr.PERIOD, cattr.PERIOD_KIND, attr.ITEM_COUNT, cattr.COST_NUSD, attr.GEN_AI_INPUT_TOKENS,
     attr.GEN_AI_OUTPUT_TOKENS, attr.SCHEDULED_FOR],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
ENCODING_SUBSTITUTED = define(
    "Ai.Encoding.Substituted",
    "Tokens were counted for a model id the encoding map does not know, with the documented fallback encoding; the"
    " count is marked estimated. Once per model per process.",
    [attr.GEN_AI_MODEL, cattr.ENCODING, cattr.TOKEN_METHOD],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
ENCODING_LOAD_FAILED = define(
    "Ai.Encoding.LoadFailed",
    "A tokenizer encoding could not be loaded from the shipped files; tokens are estimated with the chars/4"
    " heuristic. Once per encoding per process.",
    [cattr.ENCODING, cattr.TOKEN_METHOD],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
PRICE_CEILING_APPLIED = define(
    "Ai.Price.CeilingApplied",
    "A model id has no price in force in the price table; it was priced at the configured ceiling (never at zero)."
    " Once per model per process.",
    [attr.GEN_AI_MODEL],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
