"""Cosmos containers owned by the integrity package. Every document in them is written once (create), except a
run's own document, which its owner completes with the summary."""

from shared.cosmos import ContainerSpec

BASELINES = ContainerSpec("integrityBaselines", "/id")
"""One document per baseline version (id ``baseline:000000007``): the signed map of location id -> hash."""

RUNS = ContainerSpec("integrityRuns", "/id")
"""One document per timer occurrence (id ``run:2026-12-03T19:05:00Z``): the claim, then the run's summary."""

FINDINGS = ContainerSpec("integrityFindings", "/run_id")
"""One document per run and drifted location, partitioned by run: a report reads one partition."""
