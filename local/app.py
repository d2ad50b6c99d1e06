"""The function app running in the local host, as a child of the local stack: what the main job and the
end-to-end tests drive.

    with LocalStack(var) as endpoints:
        app = RunningApp.start(stack, extra_settings)
        app.post("/api/players", {...})
        app.wait_idle()
        app.stop()          # graceful: the host flushes telemetry while the ingestion endpoint still listens
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.stack import ROOT, LocalStack, StackError

HOST_CHILD = "host"
APP_DEFAULTS: Mapping[str, str] = {
    "COST_ROLLUP_SCHEDULE": "*/10 * * * * *",
    "INTEGRITY_SCHEDULE": "*/10 * * * * *",
    "POISON_SCAN_SCHEDULE": "*/15 * * * * *",
    "INTEGRITY_SIGNING_KEY": "local-integrity-signing-key-not-a-secret",
    "TELEMETRY_PSEUDONYM_KEY": "local-pseudonym-key-not-a-secret",
    "WEBSITE_SITE_NAME": "game-observability-local",
    "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.250",
}
"""Settings a local run adds to the stack's: fast timers and queue polling so a short run sees them work, local-only
keys (not secrets)."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: dict[str, Any]


class RunningApp:
    def __init__(self, stack: LocalStack, port: int, settings: Mapping[str, str]) -> None:
        self.stack = stack
        self.port = port
        self.settings = dict(settings)
        self.base_url = f"http://127.0.0.1:{port}"
        self.child = f"{HOST_CHILD}-{port}"

    @classmethod
    def start(cls, stack: LocalStack, extra: Mapping[str, str] | None = None, timeout: float = 60.0) -> RunningApp:
        if stack.endpoints is None:
            raise StackError("start the stack before the app")
        settings = {**stack.endpoints.app_settings(), **APP_DEFAULTS, **(extra or {})}
        port = _free_port()
        argv = [sys.executable, "-m", "local.host", "--app", "function_app", "--port", str(port)]
        stack.spawn(f"{HOST_CHILD}-{port}", argv, env=settings)
        app = cls(stack, port, settings)
        app._wait_ready(timeout)
        return app

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.child in self.stack.exited():
                raise StackError(f"the local host exited at start: see {self.stack.log_path(self.child)}")
            try:
                if self.request("GET", "/admin/host/status").status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise StackError(f"the local host did not answer in {timeout:.0f} s: see {self.stack.log_path(self.child)}")

    def request(self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None,
                raw: bytes | None = None, timeout: float = 30.0) -> Response:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        all_headers = {"content-type": "application/json", **(headers or {})}
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as reply:
                return Response(reply.status, dict(reply.headers), _json(reply.read()))
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), _json(error.read()))

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        return self.request("POST", path, body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def activity(self) -> dict[str, Any]:
        return self.get("/admin/host/activity").body

    def wait_idle(self, timeout: float = 60.0, settle: int = 2) -> None:
        """Until nothing is in flight and every trigger queue is empty, ``settle`` polls in a row."""
        deadline, calm = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            state = self.activity()
            busy = state.get("in_flight", 0) or any(state.get("queues", {}).values())
            calm = 0 if busy else calm + 1
            if calm >= settle:
                return
            time.sleep(0.2)
        raise TimeoutError(f"the app was still busy after {timeout:.0f} s: {self.activity()}")

    def run_function(self, name: str) -> int:
        """Fire a non-HTTP function now, as Core Tools' admin endpoint does."""
        return self.post(f"/admin/functions/{name}", {"input": ""}).status

    def stop(self) -> int | None:
        return self.stack.stop_child(self.child)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _json(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data or b"{}")
    except json.JSONDecodeError:
        return {"_raw": data[:200].decode("utf-8", "replace")}
    return parsed if isinstance(parsed, dict) else {"_value": parsed}


__all__ = ["RunningApp", "Response", "APP_DEFAULTS", "ROOT"]


WORLD_FILE = ROOT.parent / "shared" / "data" / "world" / "villageLocations.json"


def seed_world(stack: LocalStack, world: list[dict[str, Any]], database: str = "game",
               progress: Callable[[int], None] | None = None) -> int:
    """Seed the real world into Cosmos and record the integrity baseline over it; returns the baseline version."""
    from game.containers import LOCATIONS
    from game.world import seed
    from integrity import baseline
    from shared.cosmos import CosmosGateway

    assert stack.endpoints is not None
    gateway = CosmosGateway(stack.endpoints.cosmos_endpoint, stack.endpoints.cosmos_key, database)
    seed(gateway.container(LOCATIONS), world, progress=progress)
    os.environ.setdefault("INTEGRITY_SIGNING_KEY", APP_DEFAULTS["INTEGRITY_SIGNING_KEY"])
    return baseline.record_seed(gateway, world).version


def main(argv: list[str] | None = None) -> int:
    """``python -m local.app up``: the stack plus the app in the local host, until Ctrl-C (for poking at it)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m local.app", description="run the function app locally")
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="folder for logs, telemetry, stack.json")
    args = parser.parse_args(argv)
    stack = LocalStack(args.var)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        stack.start()
        stack.write_stack_json()
        from game.world import load_world

        version = seed_world(stack, load_world(WORLD_FILE))
        app = RunningApp.start(stack)
        print(f"local app: world seeded, integrity baseline v{version}", flush=True)
        print(f"local app: {app.base_url}/api/...  (telemetry rows: {args.var / 'telemetry'}; Ctrl-C stops all)",
              flush=True)
        while app.child not in stack.exited():
            time.sleep(0.5)
        print(f"local app: the host exited; see {stack.log_path(app.child)}", file=sys.stderr)
        return 1
    except StackError as error:
        print(f"local app: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
