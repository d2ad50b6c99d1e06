"""Per-location verdicts: the observed world against a verified baseline."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass


class Verdict(str, enum.Enum):
    MATCH = "match"
    """Same hash as the baseline."""
    MISMATCH = "mismatch"
    """In both, different hash (or the document can no longer be canonicalised): changed outside the app."""
    NEW = "new"
    """In Cosmos, not in the baseline: added outside the app."""
    MISSING = "missing"
    """In the baseline, not in Cosmos: deleted outside the app."""


@dataclass(frozen=True)
class Comparison:
    location_id: str
    verdict: Verdict
    expected_hash: str | None
    actual_hash: str | None


def compare(expected: Mapping[str, str], actual: Mapping[str, str | None]) -> list[Comparison]:
    """One comparison per location in either map, sorted by location id (a deterministic order for findings)."""
    return [_one(lid, expected.get(lid), actual.get(lid), lid in expected, lid in actual)
            for lid in sorted(set(expected) | set(actual))]


def drifted(comparisons: list[Comparison]) -> list[Comparison]:
    return [c for c in comparisons if c.verdict is not Verdict.MATCH]


def counts(comparisons: list[Comparison]) -> dict[str, int]:
    """``{"match": n, "mismatch": n, "new": n, "missing": n}``, every verdict present."""
    tally = Counter(c.verdict for c in comparisons)
    return {verdict.value: tally.get(verdict, 0) for verdict in Verdict}


def _one(location_id: str, expected: str | None, actual: str | None, known: bool, present: bool) -> Comparison:
    if not present:
        verdict = Verdict.MISSING
    elif not known:
        verdict = Verdict.NEW
    else:
        verdict = Verdict.MATCH if actual is not None and actual == expected else Verdict.MISMATCH
    return Comparison(location_id, verdict, expected, actual)
