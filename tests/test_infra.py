"""The deployment (``infra/main.bicep``) against the code: containers, queues, settings and schedules cannot drift.

No Bicep compiler can run here (every route downloads a binary), so the file is parsed with ``pycep-parser`` and
its structure is checked; ARM's own validation happens at deployment. The alert queries it loads run against real
telemetry rows in the end-to-end tests (``tests/test_e2e_queues.py``).
"""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from croniter import croniter
from pycep import BicepParser

from local import infra_manifest
from shared import settings

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"

NOT_SET_BY_INFRA = {
    settings.ROLE_NAME: "set by the platform (the site's name)",
    settings.AZURE_INSTANCE: "set by the platform on every instance",
    settings.TELEMETRY_STRICT: "tests only: production reports an undeclared dimension instead of raising",
    settings.TIKTOKEN_CACHE_DIR: "the default folder under the temp dir is writable on Flex Consumption",
    settings.AI_BUDGETS_FILE: "empty means cost/budgets.json, which ships with the app",
    settings.TELEMETRY_STORAGE_DIRECTORY: "the exporter's default folder under the temp dir serves in Azure",
}
"""App settings the app reads that the deployment deliberately leaves unset, and why."""

SCHEDULE_PARAMETERS = {
    settings.INTEGRITY_SCHEDULE: "integritySchedule",
    settings.COST_ROLLUP_SCHEDULE: "costRollupSchedule",
    settings.POISON_SCAN_SCHEDULE: "poisonScanSchedule",
}


@cache
def bicep() -> dict[str, Any]:
    return BicepParser().parse(text=(INFRA / "main.bicep").read_text(encoding="utf-8"))


def _declared_settings() -> set[str]:
    """Every app setting name ``shared/settings.py`` declares (its ``Final`` string constants)."""
    tree = ast.parse((ROOT / "shared" / "settings.py").read_text(encoding="utf-8"))
    return {node.value.value for node in tree.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)}


def _app_settings() -> dict[str, Any]:
    entries = bicep()["resources"]["site"]["config"]["properties"]["siteConfig"]["appSettings"]
    return {entry["name"]: entry["value"] for entry in entries}


def _accessor(node: Any) -> list[str]:
    """``a.b.c`` as pycep represents it, flattened to ``["a", "b", "c"]``."""
    if isinstance(node, str):
        return [node]
    operands = node["operator"]["operands"]
    return _accessor(operands["operand_1"]) + _accessor(operands["operand_2"])


def test_the_manifest_is_regenerated_from_the_code() -> None:
    assert (INFRA / "app-manifest.json").read_text(encoding="utf-8") == infra_manifest.render()


def test_the_manifest_holds_every_container_with_its_partition_key() -> None:
    containers = {c["name"]: c["partitionKey"] for c in json.loads(infra_manifest.render())["cosmos"]["containers"]}
    assert containers == {
        "locations": "/id", "players": "/id", "ai_usage": "/id", "ai_budgets": "/feature", "ai_rollups": "/period",
        "integrityBaselines": "/id", "integrityRuns": "/id", "integrityFindings": "/run_id",
    }


def test_containers_are_declared_only_in_containers_modules() -> None:
    """The manifest finds containers in ``<package>/containers.py``; one declared elsewhere would be missed."""
    elsewhere = [str(path.relative_to(ROOT)) for package in infra_manifest.APP_PACKAGES
                 for path in (ROOT / package).rglob("*.py")
                 if path.name != "containers.py" and path.name != "cosmos.py"
                 and "ContainerSpec(" in path.read_text(encoding="utf-8")]
    assert elsewhere == []


def test_every_produced_event_has_a_consumer() -> None:
    """A queue the producer writes that no function reads would lose every event sent to it."""
    assert infra_manifest.produced_queues() == infra_manifest.consumed_queues()


def test_containers_and_queues_come_from_the_manifest() -> None:
    resources = bicep()["resources"]
    manifest_var = bicep()["variables"]["manifest"]["value"]["function"]
    assert manifest_var == {"type": "load_json_content",
                            "parameters": {"file_path": "app-manifest.json", "json_path": None, "encoding": None}}
    queues, containers = resources["queues"]["config"], resources["containers"]["config"]
    assert _accessor(queues["loop_type"]["detail"]["array_name"]) == ["manifest", "queues"]
    assert _accessor(containers["loop_type"]["detail"]["array_name"]) == ["manifest", "cosmos", "containers"]
    item = containers["loop_type"]["detail"]["item_name"]
    resource = containers["config"]["properties"]["resource"]
    assert _accessor(resource["id"]) == [item, "name"]
    assert [_accessor(p) for p in resource["partitionKey"]["paths"]] == [[item, "partitionKey"]]
    database = resources["database"]["config"]
    assert _accessor(database["name"]) == ["manifest", "cosmos", "database"]


def test_every_setting_the_app_reads_is_set_or_deliberately_left_out() -> None:
    declared = _declared_settings()
    assert set(NOT_SET_BY_INFRA) <= declared
    assert set(_app_settings()) == declared - set(NOT_SET_BY_INFRA)


def test_secrets_come_from_key_vault_references() -> None:
    app_settings = _app_settings()
    for name in (settings.COSMOS_KEY, settings.PSEUDONYM_KEY, settings.INTEGRITY_SIGNING_KEY):
        assert app_settings[name].startswith("@Microsoft.KeyVault(SecretUri=${"), name
    parameters = bicep()["parameters"]
    for name in ("pseudonymKey", "integritySigningKey"):
        assert {"type": "secure", "argument": None} in parameters[name]["decorators"] or any(
            d.get("type") == "secure" for d in parameters[name]["decorators"]), name


@pytest.mark.parametrize(("setting", "parameter"), sorted(SCHEDULE_PARAMETERS.items()))
def test_schedules_are_six_field_ncrontab_and_match_the_example_settings(setting: str, parameter: str) -> None:
    default = bicep()["parameters"][parameter]["default"]
    assert len(default.split()) == 6 and croniter.is_valid(default, second_at_beginning=True)
    assert _app_settings()[setting] == parameter
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))["Values"]
    assert example[setting] == default


def test_files_the_bicep_loads_exist() -> None:
    text = (INFRA / "main.bicep").read_text(encoding="utf-8")
    loaded = [part.split("'")[1] for part in text.split("Content(")[1:]]
    assert sorted(loaded) == ["alerts/poison-queue.kql", "app-manifest.json"]
    assert all((INFRA / name).is_file() for name in loaded)


def test_the_poison_alert_watches_every_poison_queue_and_names_its_runbook() -> None:
    alert = bicep()["resources"]["poisonAlert"]["config"]["properties"]
    criterion = alert["criteria"]["allOf"][0]
    assert (criterion["operator"], criterion["threshold"], criterion["metricMeasureColumn"]) == (
        "GreaterThan", 0, "length")
    assert criterion["dimensions"] == [{"name": "queue", "operator": "Include", "values": ["*"]}]
    assert alert["autoMitigate"] is True
    runbook = alert["description"].split("Runbook: ")[1].rstrip(".")
    assert (ROOT / runbook).is_file()
