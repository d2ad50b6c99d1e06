"""AI usage metrics: OpenTelemetry's ``gen_ai.client.token.usage`` histogram and a cost counter in nano-USD.

Instruments are created on first use from the global meter (a proxy until telemetry is configured, so they bind to
the real provider once it is set); never at import.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from cost import attributes as cattr
from shared.telemetry import attributes as attr
from shared.telemetry import meter

TOKEN_USAGE_METRIC: Final = "gen_ai.client.token.usage"
COST_METRIC: Final = "game.ai.cost"
"""Counter of billed AI cost in nano-USD, by model and feature."""
CHAT: Final = "chat"

_lock = threading.Lock()
_instruments: tuple[Any, Any] | None = None


def _get() -> tuple[Any, Any]:
    global _instruments
    with _lock:
        if _instruments is None:
            _instruments = (
                meter().create_histogram(TOKEN_USAGE_METRIC, unit="{token}",
                                         description="Tokens used per generation, by gen_ai.token.type"),
                meter().create_counter(COST_METRIC, unit="nUSD", description="Billed AI cost in nano-USD"),
            )
        return _instruments


def record_usage(model: str, feature: str, input_tokens: int, output_tokens: int, cost_nusd: int) -> None:
    histogram, counter = _get()
    common = {attr.GEN_AI_MODEL: model, attr.FEATURE: feature, cattr.GEN_AI_OPERATION: CHAT}
    histogram.record(input_tokens, {**common, cattr.GEN_AI_TOKEN_TYPE: "input"})
    histogram.record(output_tokens, {**common, cattr.GEN_AI_TOKEN_TYPE: "output"})
    counter.add(cost_nusd, common)
