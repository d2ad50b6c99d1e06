"""Telemetry set-up through the real exporter into the local ingestion endpoint (field case 2: no duplicate rows).

Each scenario runs in a fresh Python process: OpenTelemetry's providers are process-global, exactly as in a
Functions worker, and these tests are about what one process sends.
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
    import logging, sys
    from shared.settings import AppSettings
    from shared.telemetry.setup import configure
    from shared.telemetry import flush
    settings = AppSettings.from_environ()
    first = configure(settings)
    second = configure(settings)
    assert first is second and first is not None
    logging.getLogger("game.test").warning("one line %s", sys.argv[1])
    assert flush()
""")


def _run(stack: StackEndpoints, role: str, marker: str, extra: dict[str, str]) -> None:
    env = {**stack.app_settings(), "WEBSITE_SITE_NAME": role, **extra, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, marker], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_configuring_twice_gives_one_row_per_log_call_and_one_rejected_setting_report(stack: StackEndpoints) -> None:
    role, marker = f"setup-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    _run(stack, role, marker, {"TELEMETRY_SAMPLING_PERCENTAGE": "150"})
    lines = wait_for_rows(stack.telemetry_dir, "traces", lambda r: marker in (r.get("message") or ""))
    assert len(lines) == 1
    assert lines[0]["cloud_RoleName"] == role and lines[0]["severityLevel"] == 2
    rejected = [r for r in read_table(stack.telemetry_dir, "customEvents")
                if r["cloud_RoleName"] == role and r["name"] == "Telemetry.Setting.Rejected"]
    assert [r["customDimensions"]["game.setting.name"] for r in rejected] == ["TELEMETRY_SAMPLING_PERCENTAGE"]
    assert rejected[0]["itemCount"] == 1
    warnings = [r for r in read_table(stack.telemetry_dir, "traces")
                if r["cloud_RoleName"] == role and "TELEMETRY_SAMPLING_PERCENTAGE" in (r.get("message") or "")]
    assert len(warnings) == 1
    assert "150" not in json.dumps(warnings + rejected)  # the unusable value itself is never exported
