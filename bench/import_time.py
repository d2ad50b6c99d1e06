"""Import time of ``function_app`` against the import time of its third-party dependencies alone.

Why: every cold start of a Functions worker pays ``import function_app``. The app's own modules (and the telemetry
set-up they run at import) should add at most 15% to what its third-party libraries cost anyway: target <= 1.15x.

    .venv/bin/python bench/import_time.py [--runs 9]

For each environment (no Application Insights connection string; a connection string pointing at 127.0.0.1:9 with
statsbeat, control plane and SDK stats disabled):

1. ``python -X importtime -c "import function_app"`` lists every module the import loads, as a tree. The third-party
   modules are those whose top-level name is neither stdlib (``sys.stdlib_module_names``) nor one of this
   repository's packages; the ones our code (or stdlib called by it) imports directly are the roots.
2. One run with an audit hook records any socket activity during the import: there must be none.
3. Fresh interpreters alternate between ``import function_app`` and importing exactly the third-party roots (then
   any third-party module of the tree the roots did not load). Each times its imports in-process with
   ``perf_counter_ns``, so interpreter start-up, identical in both, is left out; the median of ``--runs`` is kept.

Bytecode caches are warm (one untimed run of each first). Writes ``bench/results/import_time.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "import_time.json"
TARGET = 1.15
OWN = frozenset({"function_app"} | {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()})
BASE_ENV = {"FUNCTIONS_WORKER_RUNTIME": "python"}
ENVIRONMENTS: dict[str, dict[str, str]] = {
    "no_connection_string": {},
    "connection_string_127.0.0.1:9": {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        "IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
        "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
    },
}
TIMED = ("import time\nstart, cpu = time.perf_counter_ns(), time.process_time_ns()\n{body}\n"
         "print(time.perf_counter_ns() - start, time.process_time_ns() - cpu)\n")
NETWORK = """import sys
seen = []
sys.addaudithook(lambda event, args: seen.append(f"{event} {args[1:]!r}"[:160]) if event in {
    "socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.sendto",
    "socket.sendmsg", "socket.bind", "http.client.connect", "urllib.Request"} else None)
{body}
print("\\n".join(seen))
"""
"""Socket activity during the import, from an audit hook. A ``socket.bind`` to ``::1`` port 0 without any traffic is
urllib3 probing for IPv6 support at import; it is reported, and must occur in the third-party-only import too."""


def environment(extra: dict[str, str]) -> dict[str, str]:
    """This shell's environment without telemetry settings, and with bytecode writing on so the caches stay warm."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_")) and k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **BASE_ENV, **extra, "PYTHONPATH": str(ROOT)}


def python(code: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *flags, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=60)


LOADED = """import json, sys, sysconfig
import function_app
site = tuple({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
def origin(module):
    spec = getattr(module, "__spec__", None)
    return (getattr(spec, "origin", None) or next(iter(getattr(spec, "submodule_search_locations", None) or []), ""))
print(json.dumps(sorted(name for name, module in list(sys.modules.items()) if str(origin(module)).startswith(site))))
"""


def import_tree(env: dict[str, str]) -> dict[str, Any]:
    """Parse ``-X importtime`` for the subtree under ``function_app``: roots, all third-party modules, self times.

    Third-party: top-level name neither stdlib (``sys.stdlib_module_names``) nor ours, and actually loaded from
    site-packages (``-X importtime`` also lists failed optional imports such as ``brotli``)."""
    site_modules = set(json.loads(python(LOADED, env).stdout))

    def third_party(name: str) -> bool:
        top = name.split(".")[0]
        return top not in sys.stdlib_module_names and top not in OWN and name in site_modules

    lines = []
    for line in python("import function_app", env, "-X", "importtime").stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, cumulative_us, field = line[len("import time:"):].split("|")
            level = (len(field) - len(field.lstrip()) - 1) // 2 + 1
            lines.append((level, field.strip(), int(self_us), int(cumulative_us)))
    end = max(i for i, (level, name, *_) in enumerate(lines) if level == 1 and name == "function_app")
    start = max((i for i, (level, *_) in enumerate(lines[:end]) if level == 1), default=-1) + 1
    tree = lines[start:end + 1]
    roots: list[str] = []
    stack: list[tuple[int, str]] = []  # walk in reverse: post-order reversed puts every parent before its children
    for level, name, *_ in reversed(tree):
        while stack and stack[-1][0] >= level:
            stack.pop()
        if third_party(name) and not (stack and third_party(stack[-1][1])):
            roots.append(name)
        stack.append((level, name))
    own = sorted(((self_us, name) for _, name, self_us, _ in tree if name.split(".")[0] in OWN), reverse=True)
    return {
        "roots": list(dict.fromkeys(roots[::-1])),
        "all": list(dict.fromkeys(name for _, name, *_ in tree if third_party(name))),
        "top_self": sorted(((self_us, name) for _, name, self_us, _ in tree), reverse=True)[:10],
        "own_self_us": sum(s for s, _ in own), "own_top_self": own[:10],
        "total_us_importtime": tree[-1][3],
    }


def baseline_code(roots: list[str], every: list[str]) -> str:
    return (f"import importlib, sys\nfor name in {roots!r}:\n    importlib.import_module(name)\n"
            f"missed = [n for n in {every!r} if n not in sys.modules]\n"
            "for name in missed:\n    importlib.import_module(name)\n"
            "print(len(missed), file=sys.stderr)")


def measure(name: str, extra: dict[str, str], runs: int) -> dict[str, Any]:
    env = environment(extra)
    tree = import_tree(env)
    bodies = {"function_app": "import function_app", "third_party": baseline_code(tree["roots"], tree["all"])}
    network = {case: [line for line in python(NETWORK.replace("{body}", body), env).stdout.splitlines() if line]
               for case, body in bodies.items()}
    samples: dict[str, list[float]] = {"function_app": [], "third_party": []}
    cpu: dict[str, list[float]] = {"function_app": [], "third_party": []}
    missed = 0
    for run in range(runs + 1):  # run 0 writes and warms the bytecode caches and the OS file cache
        for case, body in bodies.items():
            done = python(TIMED.format(body=body), env)
            wall_ns, cpu_ns = done.stdout.split()[-2:]
            if run:
                samples[case].append(int(wall_ns) / 1e6)
                cpu[case].append(int(cpu_ns) / 1e6)
            if case == "third_party":
                missed = int(done.stderr.split()[-1])
        print(f"{name} run {run}/{runs}: " + ", ".join(f"{k} {v[-1]:.1f} ms" for k, v in samples.items() if v),
              flush=True)
    own_activity = [line for line in network["function_app"] if line not in network["third_party"]]
    app_ms, deps_ms = statistics.median(samples["function_app"]), statistics.median(samples["third_party"])
    paired = [a / b for a, b in zip(samples["function_app"], samples["third_party"], strict=True)]
    return {
        "function_app_ms": round(app_ms, 1), "third_party_ms": round(deps_ms, 1), "ratio": round(app_ms / deps_ms, 3),
        "ratio_median_of_pairs": round(statistics.median(paired), 3),
        "ratio_of_minimums": round(min(samples["function_app"]) / min(samples["third_party"]), 3),
        "own_cost_ms": round(app_ms - deps_ms, 1), "pass": app_ms / deps_ms <= TARGET,
        "cpu_ms": {k: round(statistics.median(v), 1) for k, v in cpu.items()},
        "cpu_ratio": round(statistics.median(cpu["function_app"]) / statistics.median(cpu["third_party"]), 3),
        "samples_ms": {k: [round(v, 1) for v in vs] for k, vs in samples.items()},
        "socket_activity_during_import": network,
        "socket_activity_added_by_our_code": own_activity,
        "third_party_roots": tree["roots"],
        "third_party_packages": sorted({n.split(".")[0] for n in tree["all"]}),
        "third_party_module_count": len(tree["all"]),
        "third_party_missed_by_roots": missed,
        "top10_self_us_importtime": [{"module": n, "self_us": s} for s, n in tree["top_self"]],
        "own_modules_self_us_importtime": tree["own_self_us"],
        "own_top10_self_us_importtime": [{"module": n, "self_us": s} for s, n in tree["own_top_self"]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per case and environment (>= 7)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    scenarios = {name: measure(name, extra, args.runs) for name, extra in ENVIRONMENTS.items()}
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": {"python": platform.python_version(), "platform": platform.platform(),
                        "machine": platform.machine(), "cpus": os.cpu_count(),
                        "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]},
        "runs": args.runs, "target": TARGET, "own_packages": sorted(OWN), "scenarios": scenarios,
        "pass": all(s["pass"] and not s["socket_activity_added_by_our_code"] for s in scenarios.values()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name, s in scenarios.items():
        print(f"{name}: function_app {s['function_app_ms']} ms, third-party {s['third_party_ms']} ms, ratio "
              f"{s['ratio']} (target {TARGET}); CPU ratio {s['cpu_ratio']}; socket activity added by our code: "
              f"{s['socket_activity_added_by_our_code'] or 'none'}")
        print("  our top self times:", ", ".join(f"{o['module']} {o['self_us'] / 1000:.1f} ms"
                                               for o in s["own_top10_self_us_importtime"][:5]))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
