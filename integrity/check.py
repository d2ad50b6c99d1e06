"""The integrity run of one timer occurrence: claim it, hash the real world, compare with the signed baseline,
store a finding per drifted location, summarise.

It never writes a baseline and never changes a finding: drift is reported, not "repaired" (the reference overwrote
the stored hash on a mismatch and so erased the evidence). Exactly one invocation per occurrence does the work
(:mod:`integrity.runs`); a second one emits ``Integrity.Run.Skipped`` and returns.
"""

from __future__ import annotations

import logging
from datetime import datetime

from integrity import attributes as ia
from integrity import clock, runs, signing
from integrity.baseline import Baseline, BaselineRejected, latest_baseline
from integrity.compare import Comparison, compare, counts, drifted
from integrity.events import DRIFT_DETECTED, RUN_COMPLETED, RUN_SKIPPED
from integrity.findings import record_finding
from integrity.observed import observe_world
from integrity.runs import Claim, RunResult, RunSummary
from shared.cosmos import CosmosGateway
from shared.telemetry import attributes as attr
from shared.telemetry import emit

_log = logging.getLogger(__name__)


def run_check(cosmos: CosmosGateway, occurrence: datetime) -> RunSummary | None:
    """Run the check for ``occurrence`` (the timer's scheduled time); ``None`` when another invocation owns it."""
    key = signing.signing_key()  # before the claim: a configuration error must not use up the occurrence
    claimed = runs.claim(cosmos, occurrence)
    if claimed is None:
        _skipped(occurrence)
        return None
    summary = _check(cosmos, claimed, key)
    runs.complete(cosmos, claimed, summary)
    _completed(claimed, summary)
    return summary


def _check(cosmos: CosmosGateway, claimed: Claim, key: bytes) -> RunSummary:
    try:
        baseline = latest_baseline(cosmos, key)
    except BaselineRejected as rejected:
        return _without_comparison(claimed, RunResult.BASELINE_REJECTED, rejected.version, rejected.problem.value)
    if baseline is None:
        _log.error("integrity run %s: no baseline recorded; seed the world and record one", claimed.run_id)
        return _without_comparison(claimed, RunResult.NO_BASELINE, None, None)
    return _compare(cosmos, claimed, baseline)


def _compare(cosmos: CosmosGateway, claimed: Claim, baseline: Baseline) -> RunSummary:
    observed = observe_world(cosmos)
    comparisons = compare(baseline.hashes, {lid: seen.hash for lid, seen in observed.items()})
    stored = 0
    for comparison in drifted(comparisons):
        if record_finding(cosmos, claimed.run_id, comparison, observed.get(comparison.location_id),
                          baseline.version) is not None:
            stored += 1
            _detected(claimed, comparison, baseline.version)
    tally = counts(comparisons)
    result = RunResult.CLEAN if tally["match"] == len(comparisons) else RunResult.DRIFT
    return RunSummary(result, baseline.version, tally, len(observed), stored, claimed.elapsed_ms())


def _without_comparison(claimed: Claim, result: RunResult, version: int | None, problem: str | None) -> RunSummary:
    return RunSummary(result, version, counts([]), 0, 0, claimed.elapsed_ms(), problem)


def _skipped(occurrence: datetime) -> None:
    rid = runs.run_id(occurrence)
    _log.info("integrity run %s already claimed by another invocation: skipped", rid)
    emit(RUN_SKIPPED, {ia.RUN_ID: rid, attr.SCHEDULED_FOR: clock.iso(occurrence, "seconds")})


def _detected(claimed: Claim, comparison: Comparison, baseline_version: int) -> None:
    _log.warning("integrity drift: location %s %s (baseline %d, run %s)", comparison.location_id,
                 comparison.verdict.value, baseline_version, claimed.run_id)
    emit(DRIFT_DETECTED, {ia.RUN_ID: claimed.run_id, attr.LOCATION_ID: comparison.location_id,
                          ia.VERDICT: comparison.verdict, ia.BASELINE_VERSION: baseline_version})


def _completed(claimed: Claim, summary: RunSummary) -> None:
    emit(RUN_COMPLETED, {
        ia.RUN_ID: claimed.run_id, attr.SCHEDULED_FOR: claimed.scheduled_for, ia.RESULT: summary.result,
        ia.BASELINE_VERSION: summary.baseline_version, ia.CHECKED_COUNT: summary.checked_count,
        ia.MATCH_COUNT: summary.counts["match"], ia.MISMATCH_COUNT: summary.counts["mismatch"],
        ia.NEW_COUNT: summary.counts["new"], ia.MISSING_COUNT: summary.counts["missing"],
        ia.DURATION_MS: summary.duration_ms,
    })
