"""A small local Azure Functions host for Python v2-model apps (Core Tools cannot be installed here).

It runs `function_app.py` as Azure would: functions come only from `app.get_functions()`,
bindings are resolved from app settings (%NAME%), HTTP triggers are served on loopback under
host.json's routePrefix, queue triggers poll Azure Storage (Azurite) with host.json's queue
semantics, timers follow NCRONTAB, and the Core Tools admin endpoints are answered.

    python -m local.host --app function_app --port 7071 --settings var/stack.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import azure.functions as func
from azure.functions.queue import QueueMessage

from local.host_http import HttpServer, Route, RouteTable, response_parts
from local.host_invoke import Invoker, host_traceparent
from local.host_model import (
    HTTP_TRIGGER,
    QUEUE_TRIGGER,
    TIMER_TRIGGER,
    FunctionInfo,
    HostOptions,
    HostStartError,
    Settings,
    discover,
    read_host_json,
)
from local.host_queues import QueueClients, QueueOutputs, QueuePoller
from local.host_timers import TimerRunner

log = logging.getLogger("local.host")

__all__ = ["LocalHost", "FunctionInfo", "HostStartError", "load_app", "apply_settings", "main"]


class LocalHost:
    """Hosts one FunctionApp in-process; use as a context manager or call start()/stop().

    App settings are environment variables in Azure, so while the host runs `settings` are also
    put into os.environ (previous values come back at stop()) and functions reading os.environ at
    call time see them. Settings read at import time must be in the environment before the app
    module is imported: `apply_settings(...)` then `load_app(...)`, as the CLI does.
    """

    def __init__(self, app: func.FunctionApp, settings: Mapping[str, str], host_json: Path,
                 port: int = 0, script_root: Path | None = None) -> None:
        self.app = app
        self.settings = Settings(settings)
        self.host_json = Path(host_json)
        self.script_root = Path(script_root) if script_root else self.host_json.resolve().parent
        self._requested_port = port
        self.port = 0
        self._functions: list[FunctionInfo] | None = None
        self._stopping = threading.Event()
        self._running = False
        self._http: HttpServer | None = None
        self._pollers: list[QueuePoller] = []
        self._timers: dict[str, TimerRunner] = {}
        self._clients: QueueClients | None = None
        self._invoker: Invoker | None = None
        self.options = HostOptions()
        self.routes = RouteTable([], "api")
        self._saved_env: dict[str, str | None] = {}

    # ------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inventory(self) -> list[FunctionInfo]:
        """Every function the app registers, resolved against the settings (cached once computed)."""
        if self._functions is None:
            self._functions = discover(self.app, self.settings)
        return list(self._functions)

    def start(self) -> LocalHost:
        """Index, validate and start every listener; any problem stops what started and raises."""
        if self._running:
            return self
        self._stopping.clear()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._running = True
        log.info("host started port=%s functions=%s", self.port, [f.name for f in self.inventory()])
        for timer in self._timers.values():
            timer.start()
        return self

    def _start(self) -> None:
        self.options = read_host_json(self.host_json, {**os.environ, **self.settings.explicit()})
        self._saved_env = self.settings.export()
        active = [f for f in self.inventory() if not f.disabled]
        self.routes = RouteTable([f for f in active if f.trigger == HTTP_TRIGGER], self.options.route_prefix)
        self._clients = QueueClients(self.settings)
        outputs = QueueOutputs(self._clients, self.options.queues)
        invoker = self._invoker = Invoker(self.script_root, outputs.send, self._pool_size())
        self._timers = {f.name: TimerRunner(f, invoker, self._stopping)
                        for f in active if f.trigger == TIMER_TRIGGER}
        self._pollers = [QueuePoller(f, self._clients, self.options.queues, invoker, self._stopping)
                         for f in active if f.trigger == QUEUE_TRIGGER]
        outputs.pollers = {p.queue: p for p in self._pollers}
        invoker.start()
        self._http = HttpServer(self._requested_port, self)
        self.port = self._http.port
        self._http.start()
        for poller in self._pollers:
            poller.start()

    def _pool_size(self) -> int:
        """PYTHON_THREADPOOL_THREAD_COUNT like the worker, else the executor default."""
        configured = self.settings.get("PYTHON_THREADPOOL_THREAD_COUNT")
        return int(configured) if configured else min(32, (os.cpu_count() or 1) + 4)

    def stop(self) -> None:
        """Stop listeners, let in-flight invocations finish, release the port and every thread."""
        self._stopping.set()
        if self._http:
            self._http.stop()
            self._http = None
        for poller in self._pollers:
            poller.join()
        for timer in self._timers.values():
            timer.join()
        if self._invoker:
            self._invoker.stop()
            self._invoker = None
        if self._clients:
            self._clients.close()
            self._clients = None
        self._pollers, self._timers = [], {}
        _restore_env(self._saved_env)
        self._saved_env = {}
        if self._running:
            log.info("host stopped port=%s", self.port)
        self._running = False

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------ HTTP functions

    def run_http(self, route: Route, request: func.HttpRequest,
                 headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """Invoke an HTTP function under the host's activity; a failure is a bare 500 like Azure's."""
        assert self._invoker is not None
        traceparent = host_traceparent(headers.get("traceparent"))
        outcome = self._invoker.invoke(route.info, request, traceparent, headers.get("tracestate", ""))
        if not outcome.ok:
            return 500, [], b""
        try:
            return response_parts(outcome.http_result(route.info))
        except TypeError:
            log.exception("invalid HTTP result function=%s", route.info.name)
            return 500, [], b""

    # ------------------------------------------------------------ admin endpoints

    def admin(self, method: str, path: str, body: bytes) -> tuple[int, Any] | None:
        """Core Tools admin API subset; None lets the path fall through to 404."""
        parts = [p for p in path.split("/") if p]
        if method == "GET" and [p.lower() for p in parts] == ["admin", "host", "status"]:
            return 200, self.status()
        if method == "GET" and [p.lower() for p in parts] == ["admin", "host", "activity"]:
            return 200, self.activity()
        if method == "POST" and len(parts) == 3 and [p.lower() for p in parts[:2]] == ["admin", "functions"]:
            return self._admin_invoke(parts[2], body)
        return None

    def status(self) -> dict[str, Any]:
        return {"state": "Running" if self._running else "Stopped",
                "functions": [f.summary() for f in self.inventory()]}

    def activity(self) -> dict[str, Any]:
        """In-flight and total invocations, and the approximate message count of every trigger queue."""
        idle = {"in_flight": 0, "invocations": 0, "failures": 0}
        counters = self._invoker.activity.snapshot() if self._invoker else idle
        return {**counters, "queues": {p.queue: p.approximate_count() for p in self._pollers}}

    def _admin_invoke(self, name: str, body: bytes) -> tuple[int, Any]:
        info = next((f for f in self.inventory() if f.name.lower() == name.lower()), None)
        if info is None:
            return 404, {"error": f"function '{name}' not found"}
        if info.trigger == HTTP_TRIGGER:
            return 400, {"error": "HTTP functions are invoked through their route"}
        try:
            text = json.loads(body or b"{}").get("input", "")
        except (ValueError, AttributeError):
            return 400, {"error": "body must be JSON {\"input\": \"...\"}"}
        self.invoke_now(info.name, "" if text is None else str(text))
        return 202, None

    def invoke_now(self, name: str, input_text: str = "") -> Any:
        """Run a non-HTTP function now on the pool (timers: past_due False); returns the Future."""
        info = next(f for f in self.inventory() if f.name == name)
        assert self._invoker is not None
        if info.trigger == TIMER_TRIGGER:
            timer = self._timers.get(info.name) or TimerRunner(info, self._invoker, self._stopping)
            return self._invoker.submit(lambda: timer.fire(past_due=False))
        message = QueueMessage(id=None, body=input_text.encode("utf-8"), dequeue_count=1)
        invoker = self._invoker
        return invoker.submit(lambda: invoker.invoke(info, message, host_traceparent()).ok)

    def wait_idle(self, timeout: float = 30.0, poll_interval: float = 0.2) -> None:
        """Return once nothing is in flight and every trigger queue is empty on two consecutive polls."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"host not idle after {timeout}s: {self.activity()}")
            snapshot = self.activity()
            idle = snapshot["in_flight"] == 0 and not any(snapshot["queues"].values())
            quiet = quiet + 1 if idle else 0
            if quiet < 2:
                time.sleep(poll_interval)


def _restore_env(saved: dict[str, str | None]) -> None:
    """Put back the environment values the host replaced while it ran."""
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# ---------------------------------------------------------------- CLI


def apply_settings(values: Mapping[str, str]) -> list[str]:
    """Put settings into os.environ as Core Tools does with local.settings.json Values.

    Like Core Tools, a variable already set in the environment wins; the skipped names are returned.
    """
    skipped = []
    for name, value in values.items():
        if name in os.environ and os.environ[name] != str(value):
            skipped.append(name)
            continue
        os.environ[name] = str(value)
    return skipped


def read_settings_file(path: Path) -> dict[str, str]:
    """{"settings": {...}} (the stack's file) or local.settings.json's {"Values": {...}}."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    values = data.get("settings", data.get("Values"))
    if not isinstance(values, dict):
        raise HostStartError(f"{path}: expected a 'settings' (or 'Values') object")
    return {str(k): str(v) for k, v in values.items()}


def load_app(module_name: str, script_root: Path) -> func.FunctionApp:
    """Import the app module and find its one FunctionApp, as the worker indexes function_app.py."""
    sys.path.insert(0, str(script_root))
    module = importlib.import_module(module_name)
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionApp)]
    if len(apps) != 1:
        raise HostStartError(f"module '{module_name}' must define exactly one FunctionApp, found {len(apps)}")
    return apps[0]


def main(argv: list[str] | None = None) -> int:
    """Run the host until SIGINT/SIGTERM; prints one READY line once it listens."""
    args = _parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    values = read_settings_file(args.settings) if args.settings else {}
    for name in apply_settings(values):
        log.warning("setting %s skipped: already set in the environment", name)
    script_root = Path(args.script_root).resolve()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        app = load_app(args.app, script_root)
        # Settings now live in the environment, exactly what the app sees.
        host = LocalHost(app, {}, Path(args.host_json or script_root / "host.json"), args.port, script_root)
        host.start()
    except HostStartError as exc:
        log.error("host did not start: %s", exc)
        return 2
    try:
        print(f"READY port={host.port} url={host.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        host.stop()
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.host", description=__doc__.splitlines()[0])
    parser.add_argument("--app", default="function_app", help="module defining the FunctionApp")
    parser.add_argument("--port", type=int, default=7071, help="0 picks a free port")
    parser.add_argument("--settings", type=Path, help='JSON {"settings": {...}} put into the environment first')
    parser.add_argument("--host-json", type=Path, help="default: <script-root>/host.json")
    parser.add_argument("--script-root", default=".", help="folder holding the app and host.json")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
