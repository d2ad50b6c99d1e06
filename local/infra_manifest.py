"""Generates ``infra/app-manifest.json``: the Azure resources the app's own code needs, for ``infra/main.bicep``.

    python -m local.infra_manifest > infra/app-manifest.json

The Bicep file loads it (``loadJsonContent``) to create every Cosmos container with its partition key and every
queue with its poison queue, so the deployment cannot drift from the code: a test regenerates the file and compares.
Containers are found where each package declares them (``<package>/containers.py``); queues from the app's own
function registry (``get_functions()``) and the event types the producer sends.
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any

from local.host_model import registered_functions
from shared.cosmos import ContainerSpec
from shared.envelope import EventType
from shared.queues import poison_queue_of
from shared.settings import AppSettings

APP_MODULE = "function_app"
APP_PACKAGES = ("game", "cost", "integrity", "shared")
"""Packages that may declare containers in a ``containers`` module."""


def container_specs() -> list[ContainerSpec]:
    specs: dict[str, ContainerSpec] = {}
    for package in APP_PACKAGES:
        module = _containers_module(package)
        for value in vars(module).values() if module else ():
            if isinstance(value, ContainerSpec):
                specs[value.name] = value
    return sorted(specs.values(), key=lambda s: s.name)


def _containers_module(package: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{package}.containers")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.containers":
            raise
        return None


def consumed_queues() -> list[str]:
    """Queues some function is triggered by, from the app's registry."""
    app = importlib.import_module(APP_MODULE).app
    names = set()
    for function in registered_functions(app):
        data = function.get_trigger().get_dict_repr()
        if data.get("type") == "queueTrigger":
            names.add(data["queueName"])
    return sorted(names)


def produced_queues() -> list[str]:
    return sorted(t.queue for t in EventType)


def manifest() -> dict[str, Any]:
    queues = sorted(set(consumed_queues()) | set(produced_queues()))
    return {
        "_generated_by": "python -m local.infra_manifest; do not edit by hand",
        "cosmos": {
            "database": AppSettings.cosmos_database,
            "containers": [{"name": s.name, "partitionKey": s.partition_key_path} for s in container_specs()],
        },
        "queues": queues + [poison_queue_of(q) for q in queues],
    }


def render() -> str:
    return json.dumps(manifest(), indent=2) + "\n"


if __name__ == "__main__":
    print(render(), end="")
