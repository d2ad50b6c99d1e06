"""The event registry and the code agree in both directions, names follow the grammar, and the catalog is current.

Field failure this guards: 35 event names emitted that the registry did not know, 41 registered that nothing
emitted, and dashboards querying names that never existed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import function_app  # noqa: F401  - registers every blueprint and so every event
from shared.telemetry import catalog
from shared.telemetry.events import REGISTRY, RegistryError, check_name
from tests.conftest import ROOT

APP_PACKAGES = ("shared", "game", "cost", "integrity")


def _sources() -> list[Path]:
    return [p for pkg in APP_PACKAGES for p in (ROOT / pkg).rglob("*.py")] + [ROOT / "function_app.py"]


def _declarations() -> dict[str, str]:
    """Constant name -> event name, for every ``NAME = define("Event.Name", ...)`` in the app."""
    found: dict[str, str] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                    and getattr(node.value.func, "id", None) == "define"):
                found[node.targets[0].id] = node.value.args[0].value  # type: ignore[attr-defined]
    return found


def _emitted_constants() -> set[str]:
    used: set[str] = set()
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "emit" and node.args:
                first = node.args[0]
                used.add(first.id if isinstance(first, ast.Name) else getattr(first, "attr", "?"))
    return used


def test_every_declared_event_is_registered_and_every_registered_one_declared_in_code() -> None:
    assert set(_declarations().values()) == set(REGISTRY)


def test_every_declared_event_is_emitted_somewhere() -> None:
    never = sorted(name for const, name in _declarations().items() if const not in _emitted_constants())
    assert never == []


def test_every_emit_names_a_declared_event() -> None:
    assert _emitted_constants() - set(_declarations()) == set()


@pytest.mark.parametrize("bad", ["Move", "navigation.move.blocked", "Navigation.Move.Block", "A.B.C.Ded",
                                 "AI.Cost.Recorded", "Navigation_Move.Blocked"])
def test_names_outside_the_grammar_are_refused(bad: str) -> None:
    with pytest.raises(RegistryError):
        check_name(bad)


def test_registered_names_follow_the_grammar() -> None:
    for name in REGISTRY:
        check_name(name)


def test_catalog_is_generated_from_the_registry() -> None:
    committed = (ROOT / "docs" / "telemetry-catalog.md").read_text(encoding="utf-8")
    assert committed == catalog.render(), "run: python -m shared.telemetry.catalog > docs/telemetry-catalog.md"
