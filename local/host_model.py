"""What the local Functions host knows about an app: its functions, its settings and host.json.

Everything here is derived from the app's own registry (`app.get_functions()`), never from a
second list, so the local host can only run what Azure would index from the same code.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import _abc as azf_abc
from azure.functions.decorators.core import BindingDirection

HTTP_TRIGGER = "httpTrigger"
QUEUE_TRIGGER = "queueTrigger"
TIMER_TRIGGER = "timerTrigger"
TRIGGER_TYPES = (HTTP_TRIGGER, QUEUE_TRIGGER, TIMER_TRIGGER)
OUTPUT_TYPES = ("http", "queue")
DEFAULT_CONNECTION = "AzureWebJobsStorage"
RETURN_NAME = "$return"

# The trigger parameter annotations the Python worker's converters accept (check_input_type_annotation).
_TRIGGER_ANNOTATIONS: dict[str, type] = {
    HTTP_TRIGGER: azf_abc.HttpRequest,
    QUEUE_TRIGGER: azf_abc.QueueMessage,
    TIMER_TRIGGER: azf_abc.TimerRequest,
}


class HostStartError(RuntimeError):
    """The app cannot be hosted as written; raised at start so nothing half-runs."""


@dataclass(frozen=True)
class OutputBinding:
    """An output binding the host must honour after a successful invocation."""

    type: str  # "http" or "queue"
    name: str  # parameter name, or "$return"
    queue_name: str | None = None
    connection: str | None = None  # app-setting name of the storage connection


@dataclass(frozen=True)
class FunctionInfo:
    """One indexed function, as the host sees it. `methods == ()` means every method is allowed."""

    name: str
    trigger: str
    route: str | None = None
    methods: tuple[str, ...] = ()
    queue_name: str | None = None
    schedule: str | None = None
    connection: str | None = None
    run_on_startup: bool = False
    disabled: bool = False
    trigger_arg: str = ""
    takes_context: bool = False
    is_async: bool = False
    outputs: tuple[OutputBinding, ...] = ()
    user_function: Callable[..., Any] | None = field(default=None, repr=False, compare=False)

    def summary(self) -> dict[str, Any]:
        """The JSON shape used by /admin/host/status."""
        out: dict[str, Any] = {"name": self.name, "trigger": self.trigger}
        if self.trigger == HTTP_TRIGGER:
            out.update(route=self.route, methods=list(self.methods))
        elif self.trigger == QUEUE_TRIGGER:
            out["queue"] = self.queue_name
        else:
            out["schedule"] = self.schedule
        if self.disabled:
            out["disabled"] = True
        return out


class Settings:
    """App settings as the host resolves them: explicit settings first, then the process environment."""

    _EXPR = re.compile(r"%([^%]+)%")

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})

    def explicit(self) -> dict[str, str]:
        return dict(self._values)

    def get(self, name: str) -> str | None:
        """Look a setting up the way app settings are read (they are environment variables in Azure)."""
        if name in self._values:
            return self._values[name]
        return os.environ.get(name)

    def export(self) -> dict[str, str | None]:
        """Write the explicit settings into os.environ; returns the previous values to restore."""
        saved = {name: os.environ.get(name) for name in self._values}
        os.environ.update(self._values)
        return saved

    def resolve(self, expr: str, where: str) -> str:
        """Replace every %NAME% in a binding expression; a missing setting stops the host, naming it."""

        def one(match: re.Match[str]) -> str:
            value = self.get(match.group(1))
            if value is None:
                raise HostStartError(f"{where}: app setting '{match.group(1)}' is not set")
            return value

        return self._EXPR.sub(one, expr)

    def connection_string(self, connection: str, where: str) -> str:
        """Resolve a binding's `connection` like the host: `<name>`, then `AzureWebJobs<name>`."""
        name = self.resolve(connection, where)
        for candidate in (name, f"AzureWebJobs{name}"):
            value = self.get(candidate)
            if value:
                return value
        raise HostStartError(
            f"{where}: storage connection setting '{name}' is not set "
            f"(identity-based '{name}__queueServiceUri' connections are not supported locally)"
        )

    def disabled(self, function_name: str) -> bool:
        """`AzureWebJobs.<name>.Disabled` = true/1 disables a function, as in Azure."""
        value = self.get(f"AzureWebJobs.{function_name}.Disabled") or ""
        return value.strip().lower() in ("true", "1")


# ---------------------------------------------------------------- host.json


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+)(?:\.(\d+))?$")


def parse_timespan(text: str) -> float:
    """Seconds in a .NET TimeSpan string ("[d.]hh:mm:ss[.fffffff]"), the format host.json uses."""
    match = _TIMESPAN.match(text.strip())
    if not match:
        raise HostStartError(f"host.json: '{text}' is not a TimeSpan (expected hh:mm:ss)")
    days, hours, minutes, seconds, frac = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float(f"0.{frac}") if frac else 0.0)


@dataclass(frozen=True)
class QueueOptions:
    """host.json extensions.queues, with the storage extension's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"


@dataclass(frozen=True)
class HostOptions:
    """The parts of host.json the local host honours."""

    route_prefix: str = "api"
    queues: QueueOptions = QueueOptions()
    function_timeout: float | None = None


HOST_OVERRIDE_PREFIX = "AzureFunctionsJobHost__"


def read_host_json(path: Path, environ: Mapping[str, str] | None = None) -> HostOptions:
    """Read host.json; unknown keys are ignored as they do not change how triggers behave.

    Like the real host, an app setting ``AzureFunctionsJobHost__extensions__queues__visibilityTimeout`` overrides
    the matching host.json value (tests use it for fast retries without a second host.json).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HostStartError(f"host.json: cannot read {path}: {exc}") from None
    for name, value in (environ or {}).items():
        if name.startswith(HOST_OVERRIDE_PREFIX):
            _override(data, name[len(HOST_OVERRIDE_PREFIX):].split("__"), value)
    ext = data.get("extensions") or {}
    http = ext.get("http") or {}
    prefix = str(http.get("routePrefix", "api")).strip("/")
    timeout = data.get("functionTimeout")
    return HostOptions(
        route_prefix=prefix,
        queues=_queue_options(ext.get("queues") or {}),
        function_timeout=parse_timespan(timeout) if timeout and timeout != "-1" else None,
    )


def _override(data: dict[str, Any], path: list[str], value: str) -> None:
    node = data
    for part in path[:-1]:
        key = next((k for k in node if k.lower() == part.lower()), part)
        node = node.setdefault(key, {})
    leaf = next((k for k in node if k.lower() == path[-1].lower()), path[-1])
    node[leaf] = value


def _queue_options(raw: Mapping[str, Any]) -> QueueOptions:
    """Validate extensions.queues the way the storage extension does (bad values fail at start)."""
    batch = int(raw.get("batchSize", 16))
    if not 1 <= batch <= 32:
        raise HostStartError(f"host.json: queues.batchSize must be 1..32, got {batch}")
    encoding = str(raw.get("messageEncoding", "base64")).lower()
    if encoding not in ("base64", "none"):
        raise HostStartError(f"host.json: queues.messageEncoding must be base64 or none, got {encoding}")
    max_dequeue = int(raw.get("maxDequeueCount", 5))
    if max_dequeue < 1:
        raise HostStartError("host.json: queues.maxDequeueCount must be at least 1")
    return QueueOptions(
        batch_size=batch,
        new_batch_threshold=int(raw.get("newBatchThreshold", batch // 2)),
        max_dequeue_count=max_dequeue,
        visibility_timeout=parse_timespan(raw.get("visibilityTimeout", "00:00:00")),
        max_polling_interval=max(0.1, parse_timespan(raw.get("maxPollingInterval", "00:01:00"))),
        message_encoding=encoding,
    )


# ---------------------------------------------------------------- discovery


def registered_functions(app: func.FunctionApp) -> list[Any]:
    """`app.get_functions()`, callable more than once.

    The library records names across calls and rejects its own functions the second time; the
    duplicate-name check still runs within this call, which is the one the worker makes.
    """
    app.functions_bindings = None
    return app.get_functions()


def discover(app: func.FunctionApp, settings: Settings) -> list[FunctionInfo]:
    """Every function of the app, validated as the host and worker would at indexing time."""
    return [describe(fn, settings) for fn in registered_functions(app)]


def describe(fn: Any, settings: Settings) -> FunctionInfo:
    """Turn one registered Function into a FunctionInfo, failing loudly on what we cannot host."""
    name = fn.get_function_name()
    trigger = fn.get_trigger()
    if trigger is None:
        raise HostStartError(f"function '{name}': has no trigger")
    raw = trigger.get_dict_repr()
    kind = raw.get("type")
    if kind not in TRIGGER_TYPES:
        raise HostStartError(f"function '{name}': unsupported trigger type '{kind}'")
    outputs = _outputs(name, fn, settings)
    user = fn.get_user_function()
    takes_context = _check_parameters(name, user, raw["name"], kind, outputs)
    common: dict[str, Any] = dict(
        name=name,
        trigger=kind,
        trigger_arg=raw["name"],
        takes_context=takes_context,
        is_async=inspect.iscoroutinefunction(user),
        outputs=outputs,
        user_function=user,
        disabled=settings.disabled(name),
    )
    where = f"function '{name}'"
    if kind == HTTP_TRIGGER:
        methods = tuple(str(getattr(m, "value", m)).upper() for m in (raw.get("methods") or ()))
        return FunctionInfo(route=raw.get("route") or name, methods=methods, **common)
    if kind == QUEUE_TRIGGER:
        connection = raw.get("connection") or DEFAULT_CONNECTION
        settings.connection_string(connection, where)  # fail now, not in the poller
        queue = queue_name(settings.resolve(raw["queueName"], where), where)
        return FunctionInfo(queue_name=queue, connection=connection, **common)
    schedule = settings.resolve(raw["schedule"], where)
    return FunctionInfo(schedule=schedule, run_on_startup=bool(raw.get("runOnStartup")), **common)


_QUEUE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


def queue_name(name: str, where: str) -> str:
    """Normalise (lower-case) and validate a queue name as the storage extension does."""
    normalised = name.strip().lower()
    if not _QUEUE_NAME.match(normalised):
        raise HostStartError(f"{where}: '{name}' is not a valid queue name")
    return normalised


def _outputs(name: str, fn: Any, settings: Settings) -> tuple[OutputBinding, ...]:
    """The non-trigger bindings; anything but http/queue outputs is refused by name."""
    found = []
    for binding in fn.get_bindings():
        raw = binding.get_dict_repr()
        if raw.get("type") in TRIGGER_TYPES:
            continue
        kind, direction = raw.get("type"), BindingDirection(raw.get("direction")).name
        if kind not in OUTPUT_TYPES or direction != "OUT":
            raise HostStartError(f"function '{name}': unsupported binding '{raw.get('name')}'"
                                 f" of type '{kind}' ({direction})")
        if kind == "http":
            found.append(OutputBinding("http", raw["name"]))
            continue
        where = f"function '{name}' output '{raw['name']}'"
        connection = raw.get("connection") or DEFAULT_CONNECTION
        settings.connection_string(connection, where)
        queue = queue_name(settings.resolve(raw["queueName"], where), where)
        found.append(OutputBinding("queue", raw["name"], queue, connection))
    return tuple(found)


def _check_parameters(name: str, user: Callable[..., Any], trigger_arg: str, kind: str,
                      outputs: tuple[OutputBinding, ...]) -> bool:
    """Parameters must match binding names exactly (plus optional `context`), as the worker demands.

    Returns whether the function takes `context`.
    """
    params = [p for p in inspect.signature(user).parameters.values()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    names = {p.name for p in params}
    bound = {trigger_arg} | {o.name for o in outputs if o.name != RETURN_NAME}
    extra = sorted(names - bound - {"context"})
    missing = sorted(bound - names)
    if extra or missing:
        raise HostStartError(
            f"function '{name}': parameters {extra} have no binding, bindings {missing} have no parameter")
    _check_trigger_annotation(name, user, trigger_arg, kind)
    return "context" in names


def _check_trigger_annotation(name: str, user: Callable[..., Any], arg: str, kind: str) -> None:
    """Refuse a trigger annotation the worker's converter would refuse (e.g. `msg: str` on a queue)."""
    try:
        hints = typing.get_type_hints(user)
    except Exception:  # unresolvable forward references: the worker would fail too, but say why here
        raise HostStartError(f"function '{name}': cannot resolve type annotations") from None
    annotation = hints.get(arg)
    if annotation is None or annotation is inspect.Parameter.empty:
        return
    expected = _TRIGGER_ANNOTATIONS[kind]
    if not (isinstance(annotation, type) and issubclass(annotation, expected)):
        raise HostStartError(
            f"function '{name}': parameter '{arg}' is annotated {annotation!r}, "
            f"but a {kind} binding needs {expected.__module__}.{expected.__qualname__}")
