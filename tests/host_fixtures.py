"""Fixtures and helpers for tests/test_local_host.py: one real stack, one sample app, real queues.

Why: the host's behaviour that matters (poison after N tries, deletes, routing, trace ids) only
shows against a real Storage emulator over real sockets, so these fixtures run on the session's
LocalStack (the `stack` fixture of tests/conftest.py) and hand tests plain queue helpers.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from azure.storage.queue import QueueClient  # noqa: E402

from local.host import LocalHost, load_app  # noqa: E402
from local.stack import StackEndpoints  # noqa: E402

MAX_DEQUEUE = 3
TIMER_SCHEDULE = "0 0 0 1 1 *"  # once a year: only the admin endpoint fires it during a test
FAIL_QUEUE = "sample-fails"

TEST_HOST_JSON = {
    "version": "2.0",
    "extensions": {
        "http": {"routePrefix": "api"},
        "queues": {
            "batchSize": 4,
            "newBatchThreshold": 2,
            "maxDequeueCount": MAX_DEQUEUE,
            "visibilityTimeout": "00:00:01",
            "maxPollingInterval": "00:00:00.500",
            "messageEncoding": "base64",
        },
    },
}


@pytest.fixture(scope="module")
def host_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host.json copy with a 1 s visibility timeout and 3 tries, so poison tests stay short."""
    path = tmp_path_factory.mktemp("hostjson") / "host.json"
    path.write_text(json.dumps(TEST_HOST_JSON), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sample() -> ModuleType:
    """The sample app module (imported once, by the same loader the CLI uses)."""
    load_app("sample_app", FIXTURES)
    return sys.modules["sample_app"]


def sample_settings(stack: StackEndpoints, fail_queue: str = FAIL_QUEUE) -> dict[str, str]:
    return {**stack.app_settings(), "SAMPLE_FAIL_QUEUE": fail_queue, "SAMPLE_TIMER_SCHEDULE": TIMER_SCHEDULE}


@pytest.fixture(scope="module")
def host(stack: StackEndpoints, host_json: Path, sample: ModuleType) -> Iterator[LocalHost]:
    with LocalHost(sample.app, sample_settings(stack), host_json) as running:
        yield running


def queue(stack: StackEndpoints, name: str) -> QueueClient:
    """A raw client (no encode/decode policy): tests see exactly the text on the wire."""
    client = QueueClient.from_connection_string(stack.storage_connection_string, name)
    try:
        client.create_queue()
    except Exception:  # already exists
        pass
    return client


def send_b64(client: QueueClient, text: str) -> str:
    """Enqueue as the app's producers do (base64 text); returns the message id."""
    return client.send_message(base64.b64encode(text.encode()).decode()).id


def peek_texts(client: QueueClient) -> list[str]:
    return [m.content for m in client.peek_messages(max_messages=32)]


def peek_json(client: QueueClient) -> list[dict[str, Any]]:
    return [json.loads(base64.b64decode(t)) for t in peek_texts(client)]


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll until predicate returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)
