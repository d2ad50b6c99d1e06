"""World-data integrity (plan #153): signed baselines of location hashes, a timer that reports drift, a report.

The pieces, one concept per module:

- :mod:`integrity.canonical`  what a location's hash is (system properties dropped, exits as a set, RFC 8785, SHA-256)
- :mod:`integrity.signing`    the HMAC key (``INTEGRITY_SIGNING_KEY``, read at call time) and signatures
- :mod:`integrity.observed`   reading and hashing the world as it is in Cosmos now
- :mod:`integrity.baseline_doc` the stored, signed form of one baseline version and its verification
- :mod:`integrity.baseline`   append-only baselines: the seeding hook, one app-made update, a full re-baseline
- :mod:`integrity.compare`    per-location verdicts (match, mismatch, new, missing)
- :mod:`integrity.runs`       one run document per timer occurrence (the exactly-once claim, field case 10)
- :mod:`integrity.findings`   one drift finding per run and location, with the evidence; never overwritten
- :mod:`integrity.check`      the timer run that ties them together
- :mod:`integrity.report`     the latest completed run and its findings (``GET /api/integrity/report``)
- :mod:`integrity.functions`  the Azure Functions blueprint
- :mod:`integrity.attributes`, :mod:`integrity.events`, :mod:`integrity.containers`, :mod:`integrity.clock`
  its telemetry keys, its events (all never sampled), its Cosmos containers, its timestamps

Nothing here ever replaces or upserts a baseline or a finding: evidence is only ever added.
"""
