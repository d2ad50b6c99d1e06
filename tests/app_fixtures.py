"""Fixtures that run the real function app in the local host on the session's stack, with the real world seeded."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from game.containers import LOCATIONS
from game.world import load_world, seed
from integrity import baseline
from local.app import APP_DEFAULTS, RunningApp
from local.stack import LocalStack
from local.telemetry_rows import TelemetryRows
from shared.cosmos import CosmosGateway

WORLD_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "world" / "villageLocations.json"
FAST_RETRIES = {"AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:01"}


def start_app(local_stack: LocalStack, extra: Mapping[str, str]) -> tuple[RunningApp, CosmosGateway]:
    """A host on its own database (seeded with the real world), strict telemetry, fast queue retries."""
    assert local_stack.endpoints is not None
    database = f"app-{uuid.uuid4().hex[:8]}"
    gateway = CosmosGateway(local_stack.endpoints.cosmos_endpoint, local_stack.endpoints.cosmos_key, database)
    world = load_world(WORLD_FILE)
    seed(gateway.container(LOCATIONS), world)
    os.environ.setdefault("INTEGRITY_SIGNING_KEY", APP_DEFAULTS["INTEGRITY_SIGNING_KEY"])
    baseline.record_seed(gateway, world)
    settings = {"COSMOS_DATABASE": database, "TELEMETRY_STRICT": "true", **FAST_RETRIES, **extra}
    return RunningApp.start(local_stack, settings), gateway


@pytest.fixture(scope="module")
def running_app(local_stack: LocalStack) -> Iterator[RunningApp]:
    app, _ = start_app(local_stack, {})
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="session")
def rows(local_stack: LocalStack) -> TelemetryRows:
    assert local_stack.endpoints is not None
    return TelemetryRows(local_stack.endpoints.telemetry_dir)
