"""The integrity events. All are always kept (never sampled): integrity evidence must not be a statistical guess."""

from integrity import attributes as ia
from shared.telemetry import attributes as attr
from shared.telemetry.events import Sampling, define

RUN_COMPLETED = define(
    "Integrity.Run.Completed",
    "An integrity run for one timer occurrence finished: its result and the count of each verdict.",
    [ia.RUN_ID, attr.SCHEDULED_FOR, ia.RESULT, ia.BASELINE_VERSION, ia.CHECKED_COUNT, ia.MATCH_COUNT,
     ia.MISMATCH_COUNT, ia.NEW_COUNT, ia.MISSING_COUNT, ia.DURATION_MS],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
RUN_SKIPPED = define(
    "Integrity.Run.Skipped",
    "A timer occurrence fired again (another instance, a restart) but its run already exists: nothing was done.",
    [ia.RUN_ID, attr.SCHEDULED_FOR],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
DRIFT_DETECTED = define(
    "Integrity.Drift.Detected",
    "A location differs from the signed baseline (mismatch, new or missing); a finding with evidence was stored.",
    [ia.RUN_ID, attr.LOCATION_ID, ia.VERDICT, ia.BASELINE_VERSION],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
BASELINE_RECORDED = define(
    "Integrity.Baseline.Recorded",
    "A new signed baseline version was appended: the whole world (seed) or one app-made location update.",
    [ia.BASELINE_VERSION, ia.BASELINE_SOURCE, attr.LOCATION_ID, attr.ITEM_COUNT],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
BASELINE_REJECTED = define(
    "Integrity.Baseline.Rejected",
    "The latest baseline failed verification (tampered, signed with another key, malformed) and was not used.",
    [ia.BASELINE_VERSION, ia.BASELINE_PROBLEM],
    sampling=Sampling.ALWAYS,
    module=__name__,
)
