"""Invoking user functions the way the Functions host and Python worker do.

The host gives each invocation its own id and its own activity (a W3C traceparent with a fresh
span id), binds arguments by parameter name, runs async functions on one event loop, and
flushes output bindings only when the function succeeded.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import _abc as azf_abc

from local.host_model import RETURN_NAME, FunctionInfo, OutputBinding

log = logging.getLogger("local.host")

# The host's own activity is recorded when Application Insights is on (as in this project), so a
# trace it starts carries the sampled flag. Incoming flags are kept as they are.
NEW_TRACE_FLAGS = "01"

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """(trace_id, flags) of a valid W3C traceparent, else None (then the host starts a new trace)."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip())
    if not match:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None
    return trace_id, flags


def host_traceparent(incoming: str | None = None) -> str:
    """The traceparent of the host's activity: the caller's trace with a new span, or a new trace."""
    parsed = parse_traceparent(incoming)
    trace_id, flags = parsed if parsed else (secrets.token_hex(16), NEW_TRACE_FLAGS)
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


class HostTraceContext(azf_abc.TraceContext):
    """Concrete trace context (the library's is abstract), what `context.trace_context` returns."""

    def __init__(self, trace_parent: str, trace_state: str = "", attributes: dict[str, str] | None = None):
        self._trace_parent = trace_parent
        self._trace_state = trace_state
        self._attributes = dict(attributes or {})

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes


class HostRetryContext(azf_abc.RetryContext):
    """No retry policy is applied locally, so every invocation is try 0 of 0, as in Azure without one."""

    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


_thread_local = threading.local()


class HostContext(azf_abc.Context):
    """Concrete func.Context handed to functions that declare a `context` parameter."""

    def __init__(self, function_name: str, function_directory: str, trace_context: HostTraceContext):
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = trace_context
        self._retry_context = HostRetryContext()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return _thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> HostTraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> HostRetryContext:
        return self._retry_context


class HostOut(func.Out):
    """Concrete func.Out for output-binding parameters."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class Activity:
    """Counters a driver polls to know when the host is idle.

    `busy()` nests within a thread without double counting, so a queue message counts as one
    in-flight unit from receipt to settlement even though the invocation inside also marks itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = threading.local()
        self.in_flight = 0
        self.invocations = 0
        self.failures = 0

    @contextmanager
    def busy(self) -> Iterator[None]:
        depth = getattr(self._depth, "n", 0)
        self._depth.n = depth + 1
        if depth == 0:
            with self._lock:
                self.in_flight += 1
        try:
            yield
        finally:
            self._depth.n = depth
            if depth == 0:
                with self._lock:
                    self.in_flight -= 1

    def record(self, ok: bool) -> None:
        with self._lock:
            self.invocations += 1
            self.failures += 0 if ok else 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"in_flight": self.in_flight, "invocations": self.invocations, "failures": self.failures}


@dataclass
class Outcome:
    """What one invocation produced."""

    ok: bool
    value: Any = None
    error: BaseException | None = None
    invocation_id: str = ""
    duration_ms: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)  # values set on func.Out parameters

    def http_result(self, info: FunctionInfo) -> Any:
        """What the function answered through its http output binding ($return or an Out parameter)."""
        name = next((o.name for o in info.outputs if o.type == "http"), RETURN_NAME)
        return self.value if name == RETURN_NAME else self.outputs.get(name)


OutputSender = Callable[[OutputBinding, Any], None]


class Invoker:
    """Runs user functions: a bounded pool for background triggers and one event loop for async code."""

    def __init__(self, script_root: Path, send_output: OutputSender, max_workers: int) -> None:
        self.activity = Activity()
        self._script_root = str(script_root)
        self._send_output = send_output
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="local.host-worker")
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="local.host-asyncio", daemon=True)
        self._loop_thread.start()

    def stop(self) -> None:
        """Finish queued work (background tasks check the host's stop flag themselves), then the loop."""
        if self._pool:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._loop and self._loop_thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop_thread.join()
            self._loop.close()
            self._loop = self._loop_thread = None

    def submit(self, task: Callable[[], Any]) -> Future[Any]:
        """Run background work (queue messages, timer and admin invocations) on the bounded pool."""
        if self._pool is None:
            raise RuntimeError("host is not running")
        return self._pool.submit(task)

    def invoke(self, info: FunctionInfo, trigger_value: Any, trace_parent: str, trace_state: str = "") -> Outcome:
        """Call the function once; never raises: failures come back as Outcome(ok=False) and are logged."""
        context = HostContext(info.name, self._script_root, HostTraceContext(trace_parent, trace_state))
        outs = {o.name: HostOut() for o in info.outputs if o.name != RETURN_NAME}
        kwargs: dict[str, Any] = {info.trigger_arg: trigger_value, **outs}
        if info.takes_context:
            kwargs["context"] = context
        started = time.perf_counter()
        with self.activity.busy():
            try:
                value = self._call(info, kwargs, context.invocation_id)
                self._flush_outputs(info, outs, value)
                outcome = Outcome(True, value, None, context.invocation_id,
                                  outputs={name: out.get() for name, out in outs.items()})
            except Exception as exc:  # the host catches everything the function throws
                outcome = Outcome(False, None, exc, context.invocation_id)
            outcome.duration_ms = (time.perf_counter() - started) * 1000
            self.activity.record(outcome.ok)
        _log_outcome(info, outcome)
        return outcome

    def _call(self, info: FunctionInfo, kwargs: dict[str, Any], invocation_id: str) -> Any:
        assert info.user_function is not None
        _thread_local.invocation_id = invocation_id
        if not info.is_async:
            return info.user_function(**kwargs)
        if self._loop is None:
            raise RuntimeError("host is not running")
        return asyncio.run_coroutine_threadsafe(info.user_function(**kwargs), self._loop).result()

    def _flush_outputs(self, info: FunctionInfo, outs: dict[str, HostOut], value: Any) -> None:
        """Send queue outputs; only after success, as the host discards outputs of a failed invocation."""
        for binding in info.outputs:
            if binding.type != "queue":
                continue
            payload = value if binding.name == RETURN_NAME else outs[binding.name].get()
            if payload is not None:
                self._send_output(binding, payload)


def _log_outcome(info: FunctionInfo, outcome: Outcome) -> None:
    """One line per invocation; the traceback rides on the same record when it failed."""
    line = "invocation function=%s trigger=%s duration_ms=%.1f outcome=%s id=%s"
    args = (info.name, info.trigger, outcome.duration_ms, "ok" if outcome.ok else "failed", outcome.invocation_id)
    if outcome.ok:
        log.info(line, *args)
    else:
        log.error(line + " error=%r", *args, outcome.error, exc_info=outcome.error)
