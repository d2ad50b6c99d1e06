"""The main job as a newcomer runs it: end to end on the real world, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from local.report import counts_agree
from local.telemetry_rows import TelemetryRows, weighted_count
from tests.conftest import ROOT


def _job(var: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "local.mainjob", "--var", str(var), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_small_session_passes_every_check_and_matches_the_rows(tmp_path: Path) -> None:
    job = _job(tmp_path, "--seed", "3", "--players", "3", "--events", "30")
    out, err = job.communicate(timeout=300)
    assert job.returncode == 0, out[-3000:] + err[-3000:]
    assert "[FAILED]" not in out and "Checks" in out
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    rows = TelemetryRows(tmp_path / "telemetry")
    for operation, stats in report["operations"].items():
        assert stats["count"] == weighted_count(rows.table("requests", lambda r, op=operation: r["name"] == op))
    assert report["integrity"]["findings"][0]["location_id"] == "9c4b1f2e-5d6a-4e3b-8a7c-1d2f3e4a5b6c"
    assert sum(r["calls"] for r in report["ai"]["rollups"]) == weighted_count(
        rows.events("Ai.Cost.Recorded"))


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")  # the host's settings name var/
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if text in cmdline or text in environ or cwd.startswith(text):
            found.append(int(entry.name))
    return found


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_leaves_no_process_or_port_behind(tmp_path: Path) -> None:
    job = _job(tmp_path, "--players", "4", "--events", "400")
    deadline = time.monotonic() + 120
    assert job.stderr is not None
    while time.monotonic() < deadline:
        line = job.stderr.readline()
        if "replaying the session" in line or "creating players" in line:
            break
    time.sleep(1.0)
    settings = json.loads((tmp_path / "stack.json").read_text(encoding="utf-8"))["settings"]
    ports = {int(p) for v in settings.values() for p in re.findall(r"127\.0\.0\.1:(\d+)", v)}
    assert len(ports) >= 4 and any(_listening(p) for p in ports)
    children = [pid for pid in _processes_mentioning(str(tmp_path)) if pid != job.pid]
    assert len(children) >= 3  # azurite (cwd), ingest (--out), host (its settings); the Cosmos server by its port
    job.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends to the foreground job
    job.communicate(timeout=60)
    assert job.returncode == 130
    time.sleep(0.5)
    assert _processes_mentioning(str(tmp_path)) == []
    assert [p for p in ports if _listening(p)] == []


def test_sampled_counts_are_judged_within_the_estimates_spread_and_exactly_without_sampling() -> None:
    assert counts_agree(174, 174, 100) and not counts_agree(174, 173, 100)
    # 6 sends at 20 %: each kept trace counts 5, so 0, 5 or 10 are all honest estimates; 40 is not
    assert all(counts_agree(6, seen, 20) for seen in (0, 5, 10, 15)) and not counts_agree(6, 40, 20)
    # 174 sends at 20 %: the estimate's standard deviation is about 26
    assert counts_agree(174, 174 + 100, 20) and not counts_agree(174, 174 + 120, 20)
