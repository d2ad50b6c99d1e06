"""The local stack with real servers and the real SDKs: Cosmos (with the two patched defects), Azurite, shutdown.

Why: every other local test builds on this stack; if a part answers differently from Azure here (500 instead of 404,
a batch the Python SDK cannot send) or leaves a process or port behind, those tests fail in confusing ways.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosResourceNotFoundError
from azure.storage.queue import QueueClient

import local.stack
from local.stack import LocalStack, StackError, load_settings, make_endpoints

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    started = LocalStack(tmp_path_factory.mktemp("stack"))
    started.start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def container(stack: LocalStack) -> ContainerProxy:
    assert stack.endpoints is not None
    client = CosmosClient(stack.endpoints.cosmos_endpoint, credential=stack.endpoints.cosmos_key,
                          connection_verify=False, enable_endpoint_discovery=False)
    database = client.create_database_if_not_exists("localstack")
    return database.create_container_if_not_exists("items", partition_key=PartitionKey(path="/pk"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_settings_point_at_the_running_parts(stack: LocalStack) -> None:
    assert stack.endpoints is not None
    settings = stack.endpoints.app_settings()
    assert settings["COSMOS_ENDPOINT"] == f"http://127.0.0.1:{stack.ports['cosmos']}/"
    assert f"QueueEndpoint=http://127.0.0.1:{stack.ports['queue']}/devstoreaccount1" in settings["AzureWebJobsStorage"]
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"].endswith(f"IngestionEndpoint=http://127.0.0.1:{stack.ports['ingest']}/")
    assert settings["TIKTOKEN_CACHE_DIR"] == str(stack.var_dir / "tiktoken")
    assert settings["TELEMETRY_STORAGE_DIRECTORY"] == str(stack.var_dir / "exporter-storage")
    connection = settings["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    assert connection.startswith(f"InstrumentationKey={stack.endpoints.instrumentation_key};")
    assert settings["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert len(set(stack.ports.values())) == 5
    assert all(_listening(port) for port in stack.ports.values())
    assert stack.start_seconds is not None and stack.start_seconds < 30


def test_every_start_has_its_own_instrumentation_key(tmp_path: Path) -> None:
    """An earlier run's exporter retries what it kept on disk under its own key; a new key keeps that out."""
    ports = {"blob": 1, "queue": 2, "table": 3, "cosmos": 4, "ingest": 5}
    keys = {make_endpoints(ports, tmp_path).instrumentation_key for _ in range(3)}
    assert len(keys) == 3 and all(str(uuid.UUID(key)) == key for key in keys)


def test_cosmos_upsert_read_and_missing_item_is_404(container: ContainerProxy) -> None:
    container.upsert_item({"id": "a", "pk": "p1", "n": 1})
    container.upsert_item({"id": "a", "pk": "p1", "n": 2})
    assert container.read_item("a", partition_key="p1")["n"] == 2
    with pytest.raises(CosmosResourceNotFoundError) as missing:
        container.read_item("no-such-item", partition_key="p1")
    assert missing.value.status_code == 404  # patch (a): the unpatched server answers 500


def test_cosmos_transactional_batch_from_python_sdk(container: ContainerProxy) -> None:
    """Patch (b): the Python SDK sends the partition key once, in the x-ms-documentdb-partitionkey header."""
    results = container.execute_item_batch([
        ("create", ({"id": "b1", "pk": "p2", "v": 1},)),
        ("upsert", ({"id": "b2", "pk": "p2", "v": 2},)),
        ("read", ("b1",)),
        ("replace", ("b1", {"id": "b1", "pk": "p2", "v": 10})),
        ("delete", ("b2",)),
    ], partition_key="p2")
    assert [result["statusCode"] for result in results] == [201, 201, 200, 200, 204]
    assert results[2]["resourceBody"]["v"] == 1
    assert container.read_item("b1", partition_key="p2")["v"] == 10
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("b2", partition_key="p2")


def test_cosmos_failed_batch_is_rolled_back(container: ContainerProxy) -> None:
    """x-ms-cosmos-batch-atomic: a failing operation undoes the earlier ones, which then answer 424."""
    container.upsert_item({"id": "c-existing", "pk": "p3"})
    with pytest.raises(CosmosBatchOperationError) as failed:
        container.execute_item_batch([
            ("create", ({"id": "c-new", "pk": "p3"},)),
            ("upsert", ({"id": "c-existing", "pk": "p3", "touched": True},)),
            ("create", ({"id": "c-existing", "pk": "p3"},)),
            ("create", ({"id": "c-after", "pk": "p3"},)),
        ], partition_key="p3")
    assert failed.value.error_index == 2
    assert [r["statusCode"] for r in failed.value.operation_responses] == [424, 424, 409, 424]
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("c-new", partition_key="p3")
    assert "touched" not in container.read_item("c-existing", partition_key="p3")
    count: list[Any] = list(container.query_items("SELECT VALUE COUNT(1) FROM c WHERE c.pk = 'p3'"))
    assert count == [1]


def test_azurite_queue_roundtrip(stack: LocalStack) -> None:
    assert stack.endpoints is not None
    queue = QueueClient.from_connection_string(stack.endpoints.storage_connection_string, "stack-test")
    with queue:
        queue.create_queue()
        queue.send_message("hello from the local stack")
        [message] = list(queue.receive_messages(visibility_timeout=5))
        assert message.content == "hello from the local stack"
        assert message.dequeue_count == 1
        queue.delete_message(message)
        assert list(queue.receive_messages()) == []


def test_requested_port_in_use_is_refused(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        with pytest.raises(StackError, match=rf"port {taken} requested for cosmos is already in use on 127.0.0.1"):
            LocalStack(tmp_path, ports={"cosmos": taken}).start()
    assert not (tmp_path / "logs").exists()  # refused before anything started


def test_missing_prerequisites_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="node is not on PATH: install Node 20"):
        LocalStack(tmp_path).start()
    monkeypatch.undo()
    monkeypatch.setattr(local.stack, "NODE_DIR", tmp_path / "node")  # a checkout where bootstrap never ran
    monkeypatch.setattr(local.stack, "ROOT", tmp_path)
    with pytest.raises(StackError, match=r"node/node_modules is missing or incomplete: run bash scripts/bootstrap.sh"):
        LocalStack(tmp_path).start()


def test_stop_leaves_no_process_or_port(stack: LocalStack) -> None:
    """Runs last in this module: stops the shared stack and checks the machine is clean (twice is harmless)."""
    pids, ports = stack.pids, dict(stack.ports)
    assert set(pids) == {"azurite", "cosmos", "ingest"} and all(_pid_alive(pid) for pid in pids.values())
    stack.stop()
    stack.stop()
    assert [name for name, pid in pids.items() if _pid_alive(pid)] == []
    assert [part for part, port in ports.items() if _listening(port)] == []
    assert stack.pids == {} and stack.endpoints is None


def test_cli_up_writes_settings_and_ctrl_c_cleans_up(tmp_path: Path) -> None:
    """`python -m local.stack up` as a developer runs it; SIGINT is what Ctrl-C sends."""
    var = tmp_path / "var"
    cli = subprocess.Popen([sys.executable, "-m", "local.stack", "up", "--var", str(var)], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert _wait_until(lambda: (var / "stack.json").exists(), timeout=60), "stack.json never appeared"
        state = json.loads((var / "stack.json").read_text())
        settings = load_settings(var)
        assert settings == state["settings"] and state["telemetry_dir"] == str(var / "telemetry")
        pids = state["pids"]
        ports = [int(url.rsplit(":", 1)[1].split("/")[0]) for url in
                 (settings["COSMOS_ENDPOINT"], settings["APPLICATIONINSIGHTS_CONNECTION_STRING"])]
        assert all(_listening(port) for port in ports)
        cli.send_signal(signal.SIGINT)
        output, _ = cli.communicate(timeout=20)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 0, output
    assert "local stack: up in" in output and "local stack: stopped" in output
    assert [name for name, pid in pids.items() if _pid_alive(pid)] == []
    assert [port for port in ports if _listening(port)] == []
    assert not (var / "stack.json").exists()
    with pytest.raises(StackError, match="no .*stack.json: start the stack with python -m local.stack up"):
        load_settings(var)


def test_context_manager_and_a_dead_child(tmp_path: Path) -> None:
    """`with LocalStack(...)` yields the endpoints; a child that dies shows in exited(); leaving cleans up the rest."""
    stack = LocalStack(tmp_path)
    with stack as endpoints:
        assert endpoints.telemetry_dir == tmp_path.resolve() / "telemetry"
        pids = stack.pids
        os.kill(pids["cosmos"], signal.SIGKILL)
        assert _wait_until(lambda: stack.exited() == {"cosmos": -signal.SIGKILL})
    assert [name for name, pid in pids.items() if _pid_alive(pid)] == []
    assert [part for part, port in stack.ports.items() if _listening(port)] == []
