"""Integrity hashing throughput on the real world and on a tiled ~10,000-location world; writes
``bench/results/integrity_hash.json``.

    .venv/bin/python bench/integrity_hash.py            # hashing only (seconds)
    .venv/bin/python bench/integrity_hash.py --cosmos   # also whole runs against the local Cosmos server

The larger world tiles the real one (shared/data/README.md: "tile the graph, keep the text"): each tile is a copy
of the 35 locations with fresh ids (UUID5 of tile and original id) and exits rewired inside the tile; all text is
kept. Documents carry the five Cosmos system properties, as a run reads them. Timings are the median of several
repeats on one core, measured with ``time.perf_counter``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import rfc8785  # noqa: E402

from integrity.baseline_doc import BaselineSource, signed_document, verify_document  # noqa: E402
from integrity.canonical import canonical_bytes, content_of, location_hash  # noqa: E402

WORLD_FILE = ROOT.parent / "shared" / "data" / "world" / "villageLocations.json"
RESULTS = ROOT / "bench" / "results" / "integrity_hash.json"
TARGET = 10_000
REPEATS = 7
TILE_NAMESPACE = uuid.UUID("6f1c9a52-2b7e-4d0a-9a4e-5d3c1f0b7a11")
SYSTEM = {"_rid": "Aa8AAJ1dW0ABAAAAAAAAAA==", "_self": "dbs/Aa8AAA==/colls/Aa8AAJ1dW0A=/docs/Aa8AAJ1dW0A/",
          "_etag": "\"0000d41c-0000-0700-0000-66a0f0c30000\"", "_attachments": "attachments/", "_ts": 1721823427}
KEY = b"bench-signing-key-0123456789abcdef"


def tile(world: list[dict[str, Any]], target: int) -> list[dict[str, Any]]:
    tiles = -(-target // len(world))
    tiled = []
    for number in range(tiles):
        ids = {loc["id"]: str(uuid.uuid5(TILE_NAMESPACE, f"{number}:{loc['id']}")) for loc in world}
        for location in world:
            copied = copy.deepcopy(location)
            copied["id"] = ids[location["id"]]
            for exit_ in copied["exits"]:
                exit_["to"] = ids.get(exit_["to"], exit_["to"])
            tiled.append(copied)
    return tiled


def timed(work: Callable[[], Any], repeats: int = REPEATS) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples)}


def hashing(documents: list[dict[str, Any]]) -> dict[str, Any]:
    canonical_size = sum(len(canonical_bytes(d)) for d in documents)
    full = timed(lambda: [location_hash(d) for d in documents])
    contents = [content_of(d) for d in documents]
    strip = timed(lambda: [content_of(d) for d in documents])
    jcs = timed(lambda: [rfc8785.dumps(c) for c in contents])
    encoded = [rfc8785.dumps(c) for c in contents]
    sha = timed(lambda: [hashlib.sha256(b).hexdigest() for b in encoded])
    plain = timed(lambda: [json.dumps(c, sort_keys=True, ensure_ascii=False).encode() for c in contents])
    hashes = {d["id"]: location_hash(d) for d in documents}
    baseline = signed_document(KEY, 2, BaselineSource.SEED, None, hashes)
    return {
        "locations": len(documents),
        "canonical_bytes": canonical_size,
        "hash_all": full,
        "locations_per_s": round(len(documents) / full["median_s"]),
        "canonical_mb_per_s": round(canonical_size / full["median_s"] / 1e6, 2),
        "us_per_location": round(full["median_s"] / len(documents) * 1e6, 1),
        "breakdown_median_s": {"strip_and_sort_exits": strip["median_s"], "rfc8785": jcs["median_s"],
                               "sha256": sha["median_s"]},
        "reference_json_dumps_sort_keys_median_s": plain["median_s"],
        "baseline_document_bytes": len(json.dumps(baseline).encode()),
        "baseline_sign_median_s": timed(lambda: signed_document(KEY, 2, BaselineSource.SEED, None, hashes))["median_s"],
        "baseline_verify_median_s": timed(lambda: verify_document(baseline, KEY))["median_s"],
    }


def cosmos_runs(world: list[dict[str, Any]], sizes: list[int]) -> list[dict[str, Any]]:
    """Whole runs (claim, read all, hash, compare, summary) against the local Cosmos server; one edited location."""
    from game.containers import LOCATIONS
    from integrity.baseline import record_seed
    from integrity.check import run_check
    from local.stack import LocalStack
    from shared.cosmos import CosmosGateway

    os.environ.setdefault("INTEGRITY_SIGNING_KEY", KEY.decode())
    results = []
    with LocalStack(Path(tempfile.mkdtemp(prefix="integrity-bench-"))) as endpoints:
        for size in sizes:
            documents = world if size == len(world) else tile(world, size)[:size]
            cosmos = CosmosGateway(endpoints.cosmos_endpoint, endpoints.cosmos_key, f"bench-{size}")
            container = cosmos.container(LOCATIONS)
            seeded = time.perf_counter()
            for document in documents:
                container.upsert(document, partition_key=document["id"])
            seed_s = time.perf_counter() - seeded
            record_seed(cosmos, documents)
            edited = {**documents[0], "description": "edited out of band"}
            container.proxy.upsert_item(edited)
            at = datetime(2026, 1, 1, tzinfo=UTC)
            runs = []
            for number in range(3):
                start = time.perf_counter()
                summary = run_check(cosmos, at + timedelta(minutes=number))
                runs.append(time.perf_counter() - start)
                assert summary is not None and summary.counts["mismatch"] == 1
            results.append({"locations": size, "seed_s": round(seed_s, 2), "run_median_s": statistics.median(runs),
                            "run_min_s": min(runs)})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cosmos", action="store_true", help="also time whole runs against the local Cosmos server")
    args = parser.parse_args(argv)
    world = json.loads(WORLD_FILE.read_text(encoding="utf-8"))
    tiled = tile(world, TARGET)
    result: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": {"python": platform.python_version(), "machine": platform.machine(),
                        "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                        "rfc8785": version("rfc8785"), "repeats": REPEATS},
        "real_world": hashing([{**loc, **SYSTEM} for loc in world]),
        "tiled_world": hashing([{**loc, **SYSTEM} for loc in tiled]),
    }
    if args.cosmos:
        result["cosmos_runs"] = cosmos_runs(world, [len(world), len(tiled)])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
