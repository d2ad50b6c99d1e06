"""The local Functions host against real Azurite over loopback: routing, trace context, queues, timers, admin.

Why: every local run and end-to-end test of the function app goes through this host, so it must
behave like the Azure Functions host where the app can tell the difference: which function a URL
reaches, the traceparent the function sees, when a message is deleted, retried or poisoned, and
that nothing is left running after stop().
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from types import ModuleType

import azure.functions as func
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from host_fixtures import (  # noqa: E402,F401
    FAIL_QUEUE,
    FIXTURES,
    MAX_DEQUEUE,
    ROOT,
    TIMER_SCHEDULE,
    host,
    host_json,
    peek_json,
    peek_texts,
    queue,
    sample,
    sample_settings,
    send_b64,
    wait_for,
)

from local.host import HostStartError, LocalHost  # noqa: E402
from local.host_invoke import host_traceparent, parse_traceparent  # noqa: E402
from local.stack import StackEndpoints  # noqa: E402

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


# ------------------------------------------------------------------ discovery


def test_inventory_lists_every_registered_function_with_resolved_settings(host: LocalHost) -> None:
    by_name = {f.name: f for f in host.inventory()}
    assert set(by_name) == {"echo", "item", "item_new", "files", "async_ping", "boom", "work", "always_fails",
                            "sample_timer"}
    assert (by_name["echo"].trigger, by_name["echo"].route, by_name["echo"].methods) == (
        "httpTrigger", "echo/{id:int}", ("GET",))
    assert by_name["item"].methods == ("GET", "POST")
    assert by_name["async_ping"].is_async and not by_name["echo"].is_async
    assert (by_name["work"].trigger, by_name["work"].queue_name) == ("queueTrigger", "sample-work")
    assert by_name["always_fails"].queue_name == FAIL_QUEUE  # from %SAMPLE_FAIL_QUEUE%
    assert (by_name["sample_timer"].trigger, by_name["sample_timer"].schedule) == ("timerTrigger", TIMER_SCHEDULE)
    status = requests.get(f"{host.base_url}/admin/host/status", timeout=5).json()
    assert status["state"] == "Running"
    assert {"name": "work", "trigger": "queueTrigger", "queue": "sample-work"} in status["functions"]
    assert {"name": "sample_timer", "trigger": "timerTrigger", "schedule": TIMER_SCHEDULE} in status["functions"]


def test_missing_setting_fails_start_naming_it(host_json: Path) -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="%LOCAL_HOST_TEST_UNSET%", connection="AzureWebJobsStorage")
    def needs_setting(msg: func.QueueMessage) -> None:  # pragma: no cover - never runs
        pass

    assert "LOCAL_HOST_TEST_UNSET" not in os.environ
    with pytest.raises(HostStartError, match=r"function 'needs_setting': app setting 'LOCAL_HOST_TEST_UNSET'"):
        LocalHost(app, {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, host_json).start()


def test_unsupported_binding_fails_start_naming_the_function(host_json: Path) -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.blob_trigger(arg_name="blob", path="in/{name}", connection="AzureWebJobsStorage")
    def on_blob(blob: func.InputStream) -> None:  # pragma: no cover - never runs
        pass

    with pytest.raises(HostStartError, match=r"function 'on_blob': unsupported trigger type 'blobTrigger'"):
        LocalHost(app, {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, host_json).start()


# ------------------------------------------------------------------ HTTP


def test_route_parameters_constraints_and_precedence(host: LocalHost) -> None:
    base = f"{host.base_url}/api"
    echo = requests.get(f"{base}/echo/12?a=1&a=2&b=x", timeout=5).json()
    assert (echo["id"], echo["params"], echo["function_name"]) == ("12", {"a": "1,2", "b": "x"}, "echo")
    assert echo["url"] == f"{host.base_url}/api/echo/12?a=1&a=2&b=x"
    assert requests.get(f"{base}/items/new", timeout=5).json() == {"which": "new"}
    posted = requests.post(f"{host.base_url}/API/Items/widget", data=b"payload", timeout=5).json()
    assert posted == {"which": "item", "name": "widget", "body": "payload"}
    assert requests.get(f"{base}/files/a/b%20c/d.txt", timeout=5).json() == {"rest": "a/b c/d.txt"}
    ping = requests.get(f"{base}/async/ping", timeout=5)
    assert (ping.status_code, ping.text, ping.headers["X-Sample"]) == (201, "pong", "yes")


def test_unknown_route_is_404_and_wrong_method_is_405(host: LocalHost) -> None:
    base = f"{host.base_url}/api"
    assert requests.get(f"{base}/echo/abc", timeout=5).status_code == 404  # {id:int} rejects it
    assert requests.get(f"{base}/echo/99999999999", timeout=5).status_code == 404  # outside Int32
    assert requests.get(f"{base}/nowhere", timeout=5).status_code == 404
    assert requests.get(f"{host.base_url}/echo/1", timeout=5).status_code == 404  # no route prefix
    wrong = requests.delete(f"{base}/items/widget", timeout=5)
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "GET, POST")
    assert requests.post(f"{base}/echo/1", timeout=5).status_code == 405


def test_function_exception_is_bare_500_and_counted(host: LocalHost) -> None:
    before = host.activity()["failures"]
    response = requests.get(f"{host.base_url}/api/boom", timeout=5)
    assert (response.status_code, response.content) == (500, b"")
    assert host.activity()["failures"] == before + 1


# ------------------------------------------------------------------ trace context


def test_traceparent_keeps_trace_id_with_new_parent_span(host: LocalHost) -> None:
    trace_id, span_id = uuid.uuid4().hex, "b7ad6b7169203331"
    headers = {"traceparent": f"00-{trace_id}-{span_id}-01", "tracestate": "vendor=abc"}
    seen = requests.get(f"{host.base_url}/api/echo/1", headers=headers, timeout=5).json()
    match = TRACEPARENT.match(seen["trace_parent"])
    assert match, seen["trace_parent"]
    assert match.group(1) == trace_id
    assert match.group(2) != span_id
    assert match.group(3) == "01"
    assert seen["trace_state"] == "vendor=abc"


def test_missing_or_invalid_traceparent_starts_a_new_trace(host: LocalHost) -> None:
    invalid = {"traceparent": f"00-{'0' * 32}-b7ad6b7169203331-01"}
    first = requests.get(f"{host.base_url}/api/echo/1", headers=invalid, timeout=5).json()["trace_parent"]
    second = requests.get(f"{host.base_url}/api/echo/1", timeout=5).json()["trace_parent"]
    assert TRACEPARENT.match(first) and TRACEPARENT.match(second)
    assert first[3:35] != "0" * 32 and first[3:35] != second[3:35]
    assert parse_traceparent("ff-" + first[3:]) is None
    assert host_traceparent(first)[3:35] == first[3:35]


# ------------------------------------------------------------------ queues


def test_queue_message_is_processed_then_deleted(host: LocalHost, stack: StackEndpoints) -> None:
    work, done = queue(stack, "sample-work"), queue(stack, "sample-done")
    text = f"hello-{uuid.uuid4()}"
    message_id = send_b64(work, text)
    result = wait_for(lambda: [m for m in peek_json(done) if m["body"] == text])[0]
    assert (result["id"], result["dequeue_count"]) == (message_id, 1)
    assert TRACEPARENT.match(result["trace_parent"])
    host.wait_idle(timeout=10)
    assert work.get_queue_properties().approximate_message_count == 0


def test_failing_function_poisons_after_max_dequeue_count(host: LocalHost, stack: StackEndpoints,
                                                          sample: ModuleType) -> None:
    fails, poison = queue(stack, FAIL_QUEUE), queue(stack, f"{FAIL_QUEUE}-poison")
    text = f"doomed-{uuid.uuid4()}"
    raw = base64.b64encode(text.encode()).decode()
    fails.send_message(raw)
    wait_for(lambda: raw in peek_texts(poison), timeout=20)
    host.wait_idle(timeout=10)
    attempts = [count for body, count in sample.ATTEMPTS if body == text]
    assert attempts == list(range(1, MAX_DEQUEUE + 1))
    assert peek_texts(poison).count(raw) == 1  # the original text, once
    assert fails.get_queue_properties().approximate_message_count == 0


def test_non_base64_message_fails_and_reaches_poison(host: LocalHost, stack: StackEndpoints,
                                                     sample: ModuleType) -> None:
    fails, poison = queue(stack, FAIL_QUEUE), queue(stack, f"{FAIL_QUEUE}-poison")
    host.wait_idle(timeout=10)
    failures_before = host.activity()["failures"]
    text = f"plain text {uuid.uuid4()}!"
    fails.send_message(text)
    wait_for(lambda: text in peek_texts(poison), timeout=20)
    host.wait_idle(timeout=10)
    assert host.activity()["failures"] - failures_before == MAX_DEQUEUE
    assert not [body for body, _ in sample.ATTEMPTS if text in body]  # the function never ran
    assert fails.get_queue_properties().approximate_message_count == 0


# ------------------------------------------------------------------ timers and admin


def test_admin_endpoint_fires_timer_with_setting_schedule(host: LocalHost, stack: StackEndpoints) -> None:
    ran = queue(stack, "sample-timer-ran")
    response = requests.post(f"{host.base_url}/admin/functions/sample_timer", json={"input": ""}, timeout=5)
    assert response.status_code == 202
    record = wait_for(lambda: peek_json(ran))[0]
    assert record["past_due"] is False
    assert set(record["status"]) == {"Last", "Next", "LastUpdated"}
    assert record["status"]["Next"].endswith("-01-01T00:00:00+00:00")  # the yearly schedule from the setting
    unknown = requests.post(f"{host.base_url}/admin/functions/nope", json={"input": ""}, timeout=5)
    http_fn = requests.post(f"{host.base_url}/admin/functions/echo", json={"input": ""}, timeout=5)
    assert (unknown.status_code, http_fn.status_code) == (404, 400)
    activity = requests.get(f"{host.base_url}/admin/host/activity", timeout=5).json()
    assert set(activity) == {"in_flight", "invocations", "failures", "queues"}
    assert set(activity["queues"]) == {"sample-work", FAIL_QUEUE}


def test_timer_runs_on_startup_and_keeps_firing_after_failures(stack: StackEndpoints, host_json: Path) -> None:
    app = func.FunctionApp()
    calls: list[bool] = []

    @app.timer_trigger(schedule="* * * * * *", arg_name="timer", run_on_startup=True)
    def every_second(timer: func.TimerRequest) -> None:
        calls.append(timer.past_due)
        raise RuntimeError("timer failure")

    with LocalHost(app, {}, host_json) as timer_host:
        wait_for(lambda: len(calls) >= 3, timeout=5)
        assert timer_host.activity()["failures"] >= 3
    assert calls[0] is False  # the startup run
    settled = len(calls)
    time.sleep(1.2)
    assert len(calls) == settled  # stopped means stopped


# ------------------------------------------------------------------ lifecycle


def test_stop_leaves_no_thread_or_port(stack: StackEndpoints, host_json: Path, sample: ModuleType) -> None:
    before = set(threading.enumerate())
    env_before = os.environ.get("SAMPLE_FAIL_QUEUE")
    local = LocalHost(sample.app, sample_settings(stack, "other-fails"), host_json).start()
    port = local.port
    assert os.environ["SAMPLE_FAIL_QUEUE"] == "other-fails"  # app settings are the environment while it runs
    with requests.Session() as session:  # a keep-alive connection left open on purpose
        assert session.get(f"{local.base_url}/api/items/x", timeout=5).status_code == 200
        started_threads = set(threading.enumerate()) - before
        assert any(t.name.startswith("local.host-queue-") for t in started_threads)
        local.stop()
    assert set(threading.enumerate()) - before == set()
    assert os.environ.get("SAMPLE_FAIL_QUEUE") == env_before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_cli_prints_ready_and_stops_on_sigterm(stack: StackEndpoints, host_json: Path, tmp_path: Path) -> None:
    settings = tmp_path / "stack.json"
    settings.write_text(json.dumps({"settings": sample_settings(stack, "cli-fails")}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in sample_settings(stack)}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.host", "--app", "sample_app", "--script-root", str(FIXTURES), "--port", "0",
         "--host-json", str(host_json), "--settings", str(settings), "--log-level", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = re.match(r"READY port=(\d+) url=(http://127\.0\.0\.1:\d+)", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        status = requests.get(f"{match.group(2)}/admin/host/status", timeout=5).json()
        assert {"name": "always_fails", "trigger": "queueTrigger", "queue": "cli-fails"} in status["functions"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
