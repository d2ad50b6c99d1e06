"""The local stack: Azurite (Storage), an in-memory Cosmos DB server and the Application Insights ingest endpoint.

Why: Azure's parts cannot run here (no Docker, no network), but the function app and its tests should talk to real
servers through the real SDKs. ``LocalStack`` starts the three as child processes on free loopback ports, waits until
each answers a real request, and guarantees that stopping (also on Ctrl-C, SIGTERM or interpreter exit) leaves no
process or port behind. All data is in memory and belongs to one run; so does the telemetry folder, which start()
empties.

    python -m local.stack up [--var var]     # start, write <var>/stack.json, wait for Ctrl-C
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import errno
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "local" / "node"
HOST = "127.0.0.1"
PARTS = ("blob", "queue", "table", "cosmos", "ingest")
# Well-known, public development keys (Azurite's devstoreaccount1 and the Cosmos emulator's); not secrets.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
STOP_GRACE_SECONDS = 3.0


STACK_PARTS = ("azurite", "cosmos", "ingest")
"""The children the stack itself starts; anything else was added with :meth:`LocalStack.spawn`."""


def _terminate(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)


class StackError(RuntimeError):
    """A part of the stack cannot start; the message is one line saying which part and what to do."""


@dataclass(frozen=True)
class StackEndpoints:
    """Where the running stack listens, in the forms the SDKs and the Functions settings take."""

    storage_connection_string: str
    cosmos_endpoint: str
    cosmos_key: str
    appinsights_connection_string: str
    telemetry_dir: Path
    var_dir: Path
    instrumentation_key: str
    """New for every start: the ingestion endpoint stores only this key's envelopes, so telemetry an earlier run's
    exporter kept on disk and retries now (its offline storage) can never show up among this run's rows."""

    @property
    def exporter_storage_dir(self) -> Path:
        """Where the exporter keeps what it could not send yet (emptied at start, like the telemetry folder)."""
        return self.var_dir / "exporter-storage"

    def app_settings(self) -> dict[str, str]:
        """The ``Values`` a local.settings.json would hold for the function app to use this stack."""
        return {
            "AzureWebJobsStorage": self.storage_connection_string,
            "COSMOS_ENDPOINT": self.cosmos_endpoint,
            "COSMOS_KEY": self.cosmos_key,
            "APPLICATIONINSIGHTS_CONNECTION_STRING": self.appinsights_connection_string,
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
            "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
            "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
            "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
            "TIKTOKEN_CACHE_DIR": str(self.var_dir / "tiktoken"),
            "TELEMETRY_STORAGE_DIRECTORY": str(self.exporter_storage_dir),
        }


def make_endpoints(ports: Mapping[str, int], var_dir: Path, instrumentation_key: str | None = None) -> StackEndpoints:
    """Build the endpoints for given ports (explicit Azurite endpoints, since the ports are not the defaults)."""
    storage = ";".join([
        "DefaultEndpointsProtocol=http",
        f"AccountName={AZURITE_ACCOUNT}",
        f"AccountKey={AZURITE_KEY}",
        f"BlobEndpoint=http://{HOST}:{ports['blob']}/{AZURITE_ACCOUNT}",
        f"QueueEndpoint=http://{HOST}:{ports['queue']}/{AZURITE_ACCOUNT}",
        f"TableEndpoint=http://{HOST}:{ports['table']}/{AZURITE_ACCOUNT}",
    ])
    ikey = instrumentation_key or str(uuid.uuid4())
    return StackEndpoints(
        storage_connection_string=storage,
        cosmos_endpoint=f"http://{HOST}:{ports['cosmos']}/",
        cosmos_key=COSMOS_KEY,
        appinsights_connection_string=(
            f"InstrumentationKey={ikey};IngestionEndpoint=http://{HOST}:{ports['ingest']}/"
        ),
        telemetry_dir=var_dir / "telemetry",
        var_dir=var_dir,
        instrumentation_key=ikey,
    )


def pick_ports(requested: Mapping[str, int] | None = None) -> dict[str, int]:
    """Explicit ports are checked free; the others are found by binding port 0 (all held at once, so distinct)."""
    requested = dict(requested or {})
    held: list[socket.socket] = []
    ports: dict[str, int] = {}
    try:
        for part in PARTS:
            port = requested.get(part) or 0
            sock = _bind(port, part)
            held.append(sock)
            ports[part] = sock.getsockname()[1]
    finally:
        for sock in held:
            sock.close()
    return ports


def _bind(port: int, part: str) -> socket.socket:
    """Bind like the servers do (SO_REUSEADDR), so only a real listener counts as 'taken'."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(1)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StackError(
                f"port {port} requested for {part} is already in use on {HOST}: stop what holds it "
                f"(ss -ltnp 'sport = :{port}') or choose another port"
            ) from exc
        raise
    return sock


def port_is_listening(port: int) -> bool:
    """True when something accepts TCP connections on the loopback port."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def check_prerequisites() -> str:
    """Fail early, in one line, on what bootstrap.sh would have provided; returns the node executable."""
    node = shutil.which("node")
    if node is None:
        raise StackError(
            "node is not on PATH: install Node 20 (apt-get install nodejs npm), then run bash scripts/bootstrap.sh"
        )
    modules = NODE_DIR / "node_modules"
    for needed in ("azurite/dist/src/azurite.js", "@vercel/cosmosdb-server/lib/index.js"):
        if not (modules / needed).is_file():
            raise StackError(f"{modules.relative_to(ROOT)} is missing or incomplete: run bash scripts/bootstrap.sh")
    patched = modules / "@vercel/cosmosdb-server/lib/handler/read-document.js"
    if "Patched:" not in patched.read_text(encoding="utf-8"):
        raise StackError(
            "the Cosmos server in local/node/node_modules is unpatched (installed without scripts?): "
            "rm -rf local/node/node_modules && bash scripts/bootstrap.sh"
        )
    return node


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child if this process dies (even by SIGKILL), so no orphan keeps
    a port. prctl is looked up here, in the parent: the hook runs between fork and exec and must not dlopen.
    Linux ties this to the thread that spawned the child: start the stack from a thread that outlives it.
    """
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG

    return hook


class LocalStack:
    """Starts and stops Azurite, the Cosmos server and the ingest endpoint as one unit; a context manager."""

    def __init__(self, var_dir: Path, ports: Mapping[str, int] | None = None, timeout: float = 60.0) -> None:
        self.var_dir = Path(var_dir).resolve()
        self.timeout = timeout
        self._requested = dict(ports or {})
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._previous_handlers: dict[int, Any] = {}
        self._lock = threading.RLock()
        self.ports: dict[str, int] = {}
        self.endpoints: StackEndpoints | None = None
        self.start_seconds: float | None = None

    def __enter__(self) -> StackEndpoints:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pids(self) -> dict[str, int]:
        """Child pids by name (azurite, cosmos, ingest): each is also the id of its own process group."""
        return {name: proc.pid for name, proc in self._procs.items()}

    def write_stack_json(self) -> Path:
        """Record the running stack's settings (and pids, logs) so other processes can find and check it."""
        if self.endpoints is None:
            raise StackError("the stack is not running: call start() first")
        path = self.var_dir / "stack.json"
        state = {"settings": self.endpoints.app_settings(), "telemetry_dir": str(self.endpoints.telemetry_dir),
                 "pids": self.pids, "logs": {name: str(self.log_path(name)) for name in self.pids}}
        path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        return path

    def exited(self) -> dict[str, int]:
        """Exit codes of children that have died since start (empty while all run)."""
        codes = {name: proc.poll() for name, proc in self._procs.items()}
        return {name: code for name, code in codes.items() if code is not None}

    def log_path(self, name: str) -> Path:
        return self.var_dir / "logs" / f"{name}.log"

    def start(self) -> StackEndpoints:
        """Start all parts and wait until each answers; on any failure stop what started and raise StackError."""
        if self.endpoints is not None:
            return self.endpoints
        began = time.monotonic()
        node = check_prerequisites()
        self.ports = pick_ports(self._requested)
        endpoints = make_endpoints(self.ports, self.var_dir)
        self._prepare_dirs(endpoints)
        self._install_stop_hooks()
        try:
            self._spawn_all(node, endpoints)
            self._wait_all(endpoints)
        except BaseException:
            self.stop()
            raise
        self.endpoints = endpoints
        self.start_seconds = time.monotonic() - began
        return endpoints

    def stop(self) -> None:
        """SIGTERM every child's process group, SIGKILL after a short grace; safe to call any number of times.

        Extra children (the Functions host) go first, so their last telemetry flush still finds the ingestion
        endpoint listening; then the stack's own parts."""
        with self._lock:
            procs, self._procs = self._procs, {}
            _terminate([p for name, p in procs.items() if name not in STACK_PARTS])
            _terminate([p for name, p in procs.items() if name in STACK_PARTS])
            for log in self._logs.values():
                log.close()
            self._logs.clear()
            self.endpoints = None
            self._remove_stop_hooks()

    def _prepare_dirs(self, endpoints: StackEndpoints) -> None:
        for folder in (self.var_dir / "logs", self.var_dir / "azurite", self.var_dir / "tiktoken"):
            folder.mkdir(parents=True, exist_ok=True)
        endpoints.telemetry_dir.mkdir(parents=True, exist_ok=True)
        for old in endpoints.telemetry_dir.glob("*.jsonl"):
            old.unlink()
        shutil.rmtree(endpoints.exporter_storage_dir, ignore_errors=True)

    def _spawn_all(self, node: str, endpoints: StackEndpoints) -> None:
        azurite = [node, str(NODE_DIR / "node_modules/azurite/dist/src/azurite.js"), "--silent", "--disableTelemetry",
                   "--skipApiVersionCheck", "--inMemoryPersistence"]
        for part in ("blob", "queue", "table"):
            azurite += [f"--{part}Host", HOST, f"--{part}Port", str(self.ports[part])]
        self._spawn("azurite", azurite, cwd=self.var_dir / "azurite")
        self._spawn("cosmos", [node, str(NODE_DIR / "cosmos_server.js"), str(self.ports["cosmos"])], cwd=NODE_DIR)
        ingest = [sys.executable, "-m", "local.ingest", "--port", str(self.ports["ingest"]),
                  "--out", str(endpoints.telemetry_dir), "--ikey", endpoints.instrumentation_key]
        self._spawn("ingest", ingest, cwd=ROOT)

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start one more child (the local Functions host) that the stack stops with everything else."""
        with self._lock:
            if self.endpoints is None:
                raise StackError("the stack is not running: call start() first")
            self._spawn(name, argv, cwd=ROOT, env=env)
            return self._procs[name]

    def stop_child(self, name: str) -> int | None:
        """Stop one child gracefully (SIGTERM, SIGKILL after the grace): e.g. the host, so it flushes telemetry
        while the ingestion endpoint still listens. Returns its exit code (None if it was not running)."""
        with self._lock:
            proc = self._procs.pop(name, None)
        if proc is None:
            return None
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS * 3)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)
        log = self._logs.pop(name, None)
        if log is not None:
            log.close()
        return proc.returncode

    def _spawn(self, name: str, argv: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> None:
        """Own session (so a terminal's Ctrl-C reaches only us, and we stop the children in order); log to a file."""
        log = self._logs[name] = open(self.log_path(name), "wb")
        child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self._procs[name] = subprocess.Popen(
            argv, cwd=cwd, env=child_env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent_hook(),
        )

    def _wait_all(self, endpoints: StackEndpoints) -> None:
        deadline = time.monotonic() + self.timeout
        probes: list[tuple[str, list[int], Callable[[], None]]] = [
            ("azurite", [self.ports["blob"], self.ports["queue"], self.ports["table"]],
             lambda: _probe_azurite(endpoints.storage_connection_string)),
            ("cosmos", [self.ports["cosmos"]], lambda: _probe_cosmos(self.ports["cosmos"])),
            ("ingest", [self.ports["ingest"]], lambda: _probe_ingest(self.ports["ingest"])),
        ]
        for name, ports, probe in probes:
            self._wait_for(name, ports, probe, deadline)

    def _wait_for(self, name: str, ports: list[int], probe: Callable[[], None], deadline: float) -> None:
        """Poll TCP then a real request until it succeeds, the child exits, or time runs out."""
        last_error = "no answer yet"
        while True:
            code = self._procs[name].poll()
            if code is not None:
                raise StackError(f"{name} exited with code {code} while starting: see {self.log_path(name)}"
                                 f" (last line: {_last_line(self.log_path(name))})")
            if all(port_is_listening(port) for port in ports):
                try:
                    probe()
                    return
                except Exception as exc:  # noqa: BLE001 (any failure means 'not ready yet')
                    last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise StackError(f"{name} did not answer within {self.timeout:.0f}s ({last_error}): see "
                                 f"{self.log_path(name)}; a slow machine may need LocalStack(timeout=...)")
            time.sleep(0.1)

    def _install_stop_hooks(self) -> None:
        """atexit always; SIGINT/SIGTERM handlers (main thread only) stop the stack, then defer to the old ones."""
        atexit.register(self.stop)
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[sig] = signal.signal(sig, self._on_signal)

    def _remove_stop_hooks(self) -> None:
        atexit.unregister(self.stop)
        if threading.current_thread() is threading.main_thread():
            for sig, handler in self._previous_handlers.items():
                if signal.getsignal(sig) == self._on_signal:
                    signal.signal(sig, handler)
            self._previous_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous_handlers.get(signum, signal.SIG_DFL)
        self.stop()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "empty log"


def _probe_azurite(connection_string: str) -> None:
    """A real Queue service call: proves Azurite parses requests and accepts the shared key."""
    from azure.storage.queue import QueueServiceClient

    client = QueueServiceClient.from_connection_string(connection_string, retry_total=0, connection_timeout=2,
                                                       read_timeout=2)
    with client:
        client.get_service_properties()


def _probe_cosmos(port: int) -> None:
    """GET / is the database-account read every Cosmos SDK does first."""
    body = _http(port, "GET", "/", None)
    if "writableLocations" not in body:
        raise RuntimeError(f"unexpected answer: {body[:200]}")


def _probe_ingest(port: int) -> None:
    body = _http(port, "POST", "/v2.1/track", b"[]")
    if json.loads(body).get("itemsReceived") != 0:
        raise RuntimeError(f"unexpected answer: {body[:200]}")


def _http(port: int, method: str, path: str, body: bytes | None) -> str:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        text = response.read().decode("utf-8", errors="replace")
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {text[:200]}")
        return text
    finally:
        conn.close()




def load_settings(var_dir: Path | str) -> dict[str, str]:
    """The app settings of the stack that ``python -m local.stack up --var VAR_DIR`` is running."""
    path = Path(var_dir) / "stack.json"
    if not path.is_file():
        raise StackError(f"no {path}: start the stack with python -m local.stack up --var {var_dir}")
    return dict(json.loads(path.read_text(encoding="utf-8"))["settings"])


def _serve(stack: LocalStack) -> int:
    """Keep running until Ctrl-C/SIGTERM, or until a child dies (then say which and fail)."""
    while True:
        for name, code in stack.exited().items():
            print(f"local stack: {name} exited with code {code}; see {stack.log_path(name)}", file=sys.stderr)
            return 1
        time.sleep(0.5)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the stack and wait for Ctrl-C")
    up.add_argument("--var", type=Path, default=ROOT / "var", help="folder for logs, telemetry, stack.json")
    for part in PARTS:
        up.add_argument(f"--{part}-port", type=int, default=0, help=f"port for {part} (0: any free port)")
    args = parser.parse_args(argv)
    stack = LocalStack(args.var, ports={part: getattr(args, f"{part}_port") for part in PARTS})
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so the finally below runs (the stack chains to this)
    try:
        endpoints = stack.start()
    except StackError as exc:
        print(f"local stack: {exc}", file=sys.stderr)
        return 1
    state = stack.write_stack_json()
    try:
        _print_endpoints(stack, endpoints, state)
        return _serve(stack)
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()
        state.unlink(missing_ok=True)
        print("local stack: stopped", flush=True)


def _print_endpoints(stack: LocalStack, endpoints: StackEndpoints, state: Path) -> None:
    print(f"local stack: up in {stack.start_seconds:.1f}s (Ctrl-C stops it)")
    print(f"  storage   {endpoints.storage_connection_string}")
    print(f"  cosmos    {endpoints.cosmos_endpoint}")
    print(f"  appinsights {endpoints.appinsights_connection_string}")
    print(f"  telemetry {endpoints.telemetry_dir}")
    print(f"  logs      {stack.var_dir / 'logs'}")
    print(f"  settings  {state}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
