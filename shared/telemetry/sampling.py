"""Head sampling decided once per trace and carried with it.

The root of a trace (no parent carrying our decision) decides from its trace id and the policy's percentage for its
operation; the decision and the percentage travel in ``tracestate`` under :data:`TRACESTATE_KEY`, through HTTP and
inside queue envelopes, so every later span and event of the trace (in any process) follows it. It never asks
``is_recording()`` of a parent: in Functions the parent handed in is a non-recording remote span (field case 3).

Unsampled spans are still recorded (``RECORD_ONLY``) so that :class:`KeepErrorsProcessor` can keep failed ones.
Kept items carry ``_MS.sampleRate`` so Application Insights sets ``itemCount`` = 100 / rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from shared.telemetry import attributes as attr

TRACESTATE_KEY = "gobs"
SAMPLE_RATE_KEY = "_MS.sampleRate"
"""The Azure Monitor exporter turns this span attribute into the envelope's sampleRate (and so ``itemCount``)."""


@dataclass(frozen=True)
class SamplingPolicy:
    """Percentage of routine traces kept; operations in ``always`` (timers, integrity, admin) are always kept."""

    percentage: float = 100.0
    always: frozenset[str] = field(default_factory=frozenset)

    def percentage_for(self, operation: object) -> float:
        return 100.0 if operation in self.always else self.percentage


@dataclass(frozen=True)
class TraceDecision:
    sampled: bool
    percentage: float

    def encode(self) -> str:
        return f"s:{int(self.sampled)};p:{self.percentage:g}"


def decision_of(span_context: SpanContext) -> TraceDecision | None:
    """Our decision carried in a span context's tracestate, or None when the trace did not come from us."""
    if not span_context.is_valid or span_context.trace_state is None:
        return None
    return parse(span_context.trace_state.get(TRACESTATE_KEY))


def parse(value: str | None) -> TraceDecision | None:
    if not value:
        return None
    try:
        parts = dict(item.split(":", 1) for item in value.split(";"))
        percentage = float(parts["p"])
        if parts["s"] not in ("0", "1") or not 0 < percentage <= 100:
            return None
        return TraceDecision(parts["s"] == "1", percentage)
    except (KeyError, ValueError):
        return None


def without_decision(tracestate: str | None) -> str | None:
    """A ``tracestate`` header from outside with our entry taken out.

    Our decision is trusted only from our own queue envelopes: a caller who could set it would choose whether its
    requests leave telemetry at all, or make one request count as thousands (``p`` sets ``itemCount``).
    """
    if not tracestate:
        return tracestate
    kept = [m for m in tracestate.split(",") if m.split("=", 1)[0].strip() != TRACESTATE_KEY]
    return ",".join(kept) or None


def score(trace_id: int) -> float:
    """0 ≤ score < 100 from the trace id's random low 56 bits: the same trace scores the same everywhere."""
    return (trace_id & ((1 << 56) - 1)) / float(1 << 56) * 100.0


class TraceSampler(Sampler):
    def __init__(self, policy: SamplingPolicy) -> None:
        self._policy = policy

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        decision = decision_of(parent)
        state = parent.trace_state if parent.is_valid and parent.trace_state else TraceState()
        if decision is None:
            percentage = self._policy.percentage_for((attributes or {}).get(attr.OPERATION))
            decision = TraceDecision(score(trace_id) < percentage, percentage)
            state = _with(state, decision)
        return SamplingResult(
            Decision.RECORD_AND_SAMPLE if decision.sampled else Decision.RECORD_ONLY,
            {**(attributes or {}), SAMPLE_RATE_KEY: decision.percentage},  # the SDK keeps only what we return
            state,
        )

    def get_description(self) -> str:
        return f"TraceSampler({self._policy.percentage:g}%)"


def _with(state: TraceState, decision: TraceDecision) -> TraceState:
    if TRACESTATE_KEY in state:
        return state.update(TRACESTATE_KEY, decision.encode())
    return state.add(TRACESTATE_KEY, decision.encode())


def current_decision() -> TraceDecision:
    """The decision of the current span's trace; outside any trace everything is kept."""
    context = trace.get_current_span().get_span_context()
    decision = decision_of(context)
    if decision is None:
        return TraceDecision(True, 100.0) if not context.is_valid else TraceDecision(context.trace_flags.sampled, 100.0)
    return decision

