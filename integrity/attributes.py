"""Attribute keys of the integrity events, declared into the shared registry at import."""

from __future__ import annotations

from typing import Final

from shared.telemetry.attributes import AttributeSpec, declare

RUN_ID: Final = "game.integrity.run_id"
"""Id of an integrity run: ``run:`` plus the timer occurrence it belongs to (one per occurrence)."""
RESULT: Final = "game.integrity.result"
"""How a run ended: ``clean``, ``drift``, ``no_baseline`` or ``baseline_rejected``."""
VERDICT: Final = "game.integrity.verdict"
"""One location's verdict against the baseline: ``mismatch``, ``new`` or ``missing`` (``match`` is not reported)."""
BASELINE_VERSION: Final = "game.integrity.baseline_version"
"""Version of the signed baseline a run compared against, or that was recorded or rejected."""
BASELINE_SOURCE: Final = "game.integrity.baseline_source"
"""Why a baseline version was recorded: ``seed`` (whole world) or ``app-update`` (one location edited by the app)."""
BASELINE_PROBLEM: Final = "game.integrity.baseline_problem"
"""Why a baseline was rejected: ``bad_signature``, ``other_key`` or ``malformed``."""
CHECKED_COUNT: Final = "game.integrity.checked_count"
"""Locations a run hashed (as found in Cosmos)."""
MATCH_COUNT: Final = "game.integrity.match_count"
"""Locations whose hash equals the baseline's."""
MISMATCH_COUNT: Final = "game.integrity.mismatch_count"
"""Locations whose hash differs from the baseline's (changed outside the app)."""
NEW_COUNT: Final = "game.integrity.new_count"
"""Locations in Cosmos that the baseline does not know."""
MISSING_COUNT: Final = "game.integrity.missing_count"
"""Locations the baseline knows that are no longer in Cosmos."""
DURATION_MS: Final = "game.integrity.duration_ms"
"""Milliseconds a run took from its claim to its summary."""

declare(
    AttributeSpec(RUN_ID, str),
    AttributeSpec(RESULT, str),
    AttributeSpec(VERDICT, str),
    AttributeSpec(BASELINE_SOURCE, str),
    AttributeSpec(BASELINE_PROBLEM, str),
    *(AttributeSpec(key, int) for key in (
        BASELINE_VERSION, CHECKED_COUNT, MATCH_COUNT, MISMATCH_COUNT, NEW_COUNT, MISSING_COUNT, DURATION_MS,
    )),
)
