"""An unexpected error inside an HTTP function, as Application Insights receives it: through the real exporter into
the local ingestion endpoint.

The reference answered such errors with bare 500s; an operator holding the correlation id from the caller's error
body must find the exception by that id alone, and the row must not carry the secrets or user text that were in the
exception's message. The handler that fails is written here (nothing in the app fails on purpose); everything
around it is the app's own wrapper and telemetry set-up, in a fresh process as in a Functions worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid

from local.ingest import read_table, wait_for_rows
from local.stack import StackEndpoints
from tests.conftest import ROOT

SCRIPT = textwrap.dedent("""
    import json, sys
    import azure.functions as func
    from shared import runtime
    from shared.handlers.http import http_function
    from shared.operations import Operation
    from shared.settings import AppSettings
    from shared.telemetry import flush
    from shared.telemetry.setup import configure

    cid, secret = sys.argv[1], sys.argv[2]
    settings = AppSettings.from_environ()
    configure(settings)
    runtime.install(lambda: runtime.build_services(settings))

    @http_function(Operation.LOCATION_GET, route="locations/{location_id}")
    def get_location(call):
        raise RuntimeError(f"AccountKey={secret}; lookup of 'Ser Alaric the Bold' failed after 1234567 tries")

    req = func.HttpRequest("GET", "/api/locations/x", headers={"x-correlation-id": cid}, body=b"")
    reply = get_location(req, None)
    print(json.dumps({"status": reply.status_code, "headers": dict(reply.headers),
                      "body": json.loads(reply.get_body())}))
    assert flush()
""")


def test_a_500_has_its_exceptions_row_under_the_callers_correlation_id(stack: StackEndpoints) -> None:
    cid, secret = f"err-{uuid.uuid4()}", uuid.uuid4().hex
    env = {**stack.app_settings(), "WEBSITE_SITE_NAME": f"errors-{cid[:12]}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, cid, secret], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    reply = json.loads(done.stdout.splitlines()[-1])
    assert reply["status"] == 500 and reply["headers"]["x-correlation-id"] == cid
    assert reply["body"]["error"]["code"] == "internal_error" and reply["body"]["error"]["correlation_id"] == cid
    assert "Traceback" not in json.dumps(reply) and secret not in json.dumps(reply)

    [exception] = wait_for_rows(stack.telemetry_dir, "exceptions",
                                lambda r: r["customDimensions"].get("game.correlation_id") == cid)
    assert exception["type"] == "RuntimeError" and exception["customDimensions"]["game.operation"] == "Locations.Get"
    assert exception["outerMessage"] == "unhandled RuntimeError in Locations.Get"
    assert "in get_location" in exception["details"][0]["stack"]  # where it failed: code locations, not values
    [request] = wait_for_rows(stack.telemetry_dir, "requests",
                              lambda r: r["customDimensions"].get("game.correlation_id") == cid)
    assert (request["resultCode"], request["success"]) == ("500", False)
    assert exception["operation_Id"] == request["operation_Id"]
    failed = [r for r in read_table(stack.telemetry_dir, "customEvents")
              if r["name"] == "Function.Invocation.Failed" and r["customDimensions"].get("game.correlation_id") == cid]
    assert len(failed) == 1 and failed[0]["customDimensions"]["game.error.code"] == "internal_error"
    every_row = json.dumps([read_table(stack.telemetry_dir, t) for t in ("exceptions", "requests", "customEvents")])
    assert secret not in every_row and "Alaric" not in every_row and "1234567" not in every_row
