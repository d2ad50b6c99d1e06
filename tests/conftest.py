"""Shared fixtures: one local stack (Azurite, Cosmos server, ingestion endpoint) for the whole session.

Tests that need the data plane take ``stack`` (the endpoints) and build real SDK clients against it. Each test
module uses its own Cosmos database, so modules never see each other's documents.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.stack import LocalStack, StackEndpoints
from shared.cosmos import CosmosGateway
from shared.telemetry.testing import Captured, captured_events
from tests.app_fixtures import rows, running_app  # noqa: F401  - fixtures for every test module

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(tmp_path_factory.mktemp("session-stack"))
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def stack(local_stack: LocalStack) -> StackEndpoints:
    assert local_stack.endpoints is not None
    return local_stack.endpoints


@pytest.fixture(scope="module")
def gateway(stack: StackEndpoints, request: pytest.FixtureRequest) -> CosmosGateway:
    """A Cosmos gateway on a database of this test module's own."""
    name = f"{request.module.__name__.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:6]}"
    return CosmosGateway(stack.cosmos_endpoint, stack.cosmos_key, name)


@pytest.fixture()
def emitted() -> Iterator[Captured]:
    """Events emitted during the test, as ``(name, dimensions)``."""
    with captured_events() as seen:
        yield seen
